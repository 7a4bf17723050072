import { describe, expect, it } from 'vitest';
import { metadataProblem } from '../../src/core/key-settings.ts';
import { hostileInput, MAX_INPUT_DEPTH } from '../../src/http/plugins/validation.ts';

/** Nested arrays built without recursion, deeper than any call stack. */
function deepArrays(depth: number): unknown[] {
  const root: unknown[] = [];
  let level = root;
  for (let i = 1; i < depth; i++) {
    const next: unknown[] = [];
    level.push(next);
    level = next;
  }
  return root;
}

describe('the request input guard (security issue 11.3, 11.4)', () => {
  it('finds a NUL character in any string or object key, however nested', () => {
    expect(hostileInput({ a: [{ b: 'fine' }], c: 1, d: null })).toBeNull();
    expect(hostileInput({ a: [{ b: 'x\u0000y' }] })?.instancePath).toBe('/a/0/b');
    expect(hostileInput({ a: { 'k\u0000': 1 } })?.instancePath).toBe('/a');
    expect(hostileInput('a\u0000')).not.toBeNull();
    expect(hostileInput(null)).toBeNull();
  });

  it('refuses nesting past the limit without walking it recursively', () => {
    expect(hostileInput({ a: deepArrays(MAX_INPUT_DEPTH - 1) })).toBeNull();
    expect(hostileInput({ a: deepArrays(MAX_INPUT_DEPTH) })?.message).toMatch(/nest/);
    expect(hostileInput(deepArrays(1_000_000))?.message).toMatch(/nest/);
  });

  it('measures metadata depth before serializing it', () => {
    expect(metadataProblem({ a: deepArrays(19) })).toBeNull();
    expect(metadataProblem({ a: deepArrays(20) })).toMatch(/20 levels/);
    expect(metadataProblem({ a: deepArrays(1_000_000) })).toMatch(/20 levels/);
    expect(metadataProblem({ a: 'x'.repeat(17_000) })).toMatch(/16 KB/);
  });
});
