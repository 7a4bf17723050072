import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import { loadConfig } from '../../src/config.ts';
import { ARTIFACTS_DIR, DATABASES } from '../helpers/databases.ts';

const written: string[] = [];
function file(content: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `routes-${randomBytes(6).toString('hex')}.json`);
  writeFileSync(path, content);
  written.push(path);
  return path;
}

async function check(path: string): Promise<{ exit: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram({
    loadConfig: () => loadConfig({}),
    output: { out: (l) => out.push(l), err: (l) => err.push(l) },
    untilSignal: () => Promise.resolve('SIGTERM'),
  });
  try {
    await program.parseAsync(['node', 'keyward', 'gateway', 'check', path]);
    return { exit: 0, out, err };
  } catch (error) {
    if (error instanceof CommanderError) return { exit: error.exitCode, out, err };
    throw error;
  }
}

describe('keyward gateway check', () => {
  afterAll(() => {
    for (const path of written) rmSync(path, { force: true });
  });

  it('prints OK and the rules of a good file', async () => {
    const path = file(
      JSON.stringify({
        routes: [
          {
            method: 'POST',
            path: '/v1/chat/completions',
            permission: 'chat:write',
            resource: { from: 'body', field: 'model' },
            cost: { from: 'response_header', name: 'x-usage-tokens', estimate: 100 },
          },
          { method: 'GET', path: '/health', public: true },
        ],
      }),
    );
    const { exit, out, err } = await check(path);
    expect(exit).toBe(0);
    expect(err).toEqual([]);
    expect(out).toEqual([
      `OK: ${path} has 2 rules`,
      '  POST /v1/chat/completions -> key, permission chat:write, resource body.model, cost from response header x-usage-tokens (estimate 100)',
      '  GET /health -> public (no key)',
    ]);
  });

  it('prints each problem with its JSON path and exits non-zero', async () => {
    const path = file(
      JSON.stringify({
        routes: [
          { path: '/a', public: true, cost: 2 },
          { method: 'GRAB', path: '/b' },
        ],
      }),
    );
    const { exit, out, err } = await check(path);
    expect(exit).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([
      `${path}: $.routes[0].cost: a public rule takes no key, so it cannot have a cost`,
      `${path}: $.routes[1].method: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or "*" (got "GRAB")`,
      `${path}: 2 problems`,
    ]);
  });

  it('explains a file that is not JSON or not there', async () => {
    const broken = await check(file('{"routes": [}'));
    expect(broken.exit).toBe(1);
    expect(broken.err[0]).toMatch(/\$: not valid JSON/);
    const missing = await check(join(ARTIFACTS_DIR, 'no-such-routes.json'));
    expect(missing.exit).toBe(1);
    expect(missing.err[0]).toMatch(/could not be read/);
  });
});

describe('keyward serve --upstream --routes', () => {
  it('starts the gateway from the flags, which take precedence over the environment', async () => {
    const sqlite = DATABASES.find((d) => d.name === 'sqlite');
    if (sqlite === undefined) throw new Error('SQLite is always available');
    const database = await sqlite.create();
    const routes = file(JSON.stringify({ routes: [{ path: '/*' }] }));
    const out: string[] = [];
    const env = {
      DATABASE_URL: database.config.url,
      LOG_LEVEL: 'silent',
      PORT: '0',
      GATEWAY_PORT: '0',
      SHUTDOWN_DRAIN_DELAY: '0s',
      GATEWAY_UPSTREAM: 'http://127.0.0.1:1',
    };
    try {
      const program = buildProgram({
        loadConfig: (overrides = {}) => loadConfig({ ...env, ...overrides }),
        output: { out: (l) => out.push(l), err: (l) => out.push(l) },
        untilSignal: () => Promise.resolve('SIGTERM'),
      });
      await program.parseAsync([
        ...['node', 'keyward', 'serve'],
        ...['--upstream', 'http://127.0.0.1:3999', '--routes', routes],
      ]);
    } finally {
      await database.drop();
    }
    expect(out.join('\n')).toMatch(
      new RegExp(
        `Gateway listening on http://127\\.0\\.0\\.1:\\d+, forwarding to http://127\\.0\\.0\\.1:3999 by 1 rule from ${routes.replaceAll('.', '\\.')}`,
      ),
    );
    expect(out).toContain('stopped');
  });
});
