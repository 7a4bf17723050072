import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSdkTypes, SDK_TYPES_FILE } from '../../scripts/sdk-types.ts';

const SDK = join(import.meta.dirname, '..', '..', 'sdk');
const pkg = JSON.parse(readFileSync(join(SDK, 'package.json'), 'utf8')) as {
  name: string;
  dependencies?: Record<string, string>;
  exports: Record<string, string | Record<string, Record<string, string>>>;
};

describe('@keyward/sdk package', () => {
  it("its types are the server's current OpenAPI document (run `npm run sdk:types` when this fails)", async () => {
    const fresh = await generateSdkTypes();
    const committed = readFileSync(SDK_TYPES_FILE, 'utf8');
    expect(
      committed === fresh,
      "sdk/src/openapi.ts differs from the server's /openapi.json: run `npm run sdk:types`",
    ).toBe(true);
  });

  it('every export has an ESM, a CommonJS and a declaration file, and loads both ways', async () => {
    expect(pkg.name).toBe('@keyward/sdk');
    const require = createRequire(import.meta.url);
    for (const [subpath, conditions] of Object.entries(pkg.exports)) {
      if (typeof conditions === 'string') continue;
      const esm = conditions.import;
      const cjs = conditions.require;
      for (const file of [esm?.default, esm?.types, cjs?.default, cjs?.types])
        expect(file !== undefined && existsSync(join(SDK, file)), `${subpath}: ${file}`).toBe(true);
      const fromEsm = await import(join(SDK, esm?.default ?? ''));
      const fromCjs = require(join(SDK, cjs?.default ?? ''));
      expect(Object.keys(fromCjs).sort(), subpath).toEqual(Object.keys(fromEsm).sort());
      expect(Object.keys(fromEsm).length, subpath).toBeGreaterThan(0);
    }
    const { Keyward } = require(join(SDK, 'dist', 'index.cjs'));
    expect(new Keyward({ baseUrl: 'http://127.0.0.1:1', token: 't' }).keys).toBeDefined();
  });

  it('has no runtime dependency: the build imports only its own files and Node built-ins', () => {
    expect(pkg.dependencies).toBeUndefined();
    const dist = join(SDK, 'dist');
    for (const file of readdirSync(dist).filter((f) => /\.(c?js)$/.test(f))) {
      const text = readFileSync(join(dist, file), 'utf8');
      const specifiers = [
        ...text.matchAll(/\bfrom\s+["']([^"']+)["']/g),
        ...text.matchAll(/\brequire\(["']([^"']+)["']\)/g),
        ...text.matchAll(/\bimport\(["']([^"']+)["']\)/g),
      ].map((m) => m[1]);
      for (const specifier of specifiers)
        expect(
          specifier?.startsWith('./') || specifier?.startsWith('node:'),
          `${file}: ${specifier}`,
        ).toBe(true);
    }
  });
});
