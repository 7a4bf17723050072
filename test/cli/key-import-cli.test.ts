import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR, DATABASES, type TestDatabase } from '../helpers/databases.ts';
import { alphanumeric, cli, openServices } from '../helpers/import.ts';

describe.each(DATABASES)('keyward keys import on $name', (kind) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const dir = join(ARTIFACTS_DIR, `import-${randomBytes(4).toString('hex')}`);

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    database = await kind.create();
    env = {
      DATABASE_URL: database.config.url,
      LOG_LEVEL: 'silent',
      ACCEPTED_KEY_SHAPES: '^sk-[A-Za-z0-9]{48}$',
    };
    await cli(env).run('migrate');
  });
  afterAll(async () => {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports 2,000 keys (plaintext and hashed mixed) in batches; every key verifies; a re-run skips them all', async () => {
    const keys: string[] = [];
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const owner = `owner${i % 7}@example.com`;
      if (i % 3 === 0) {
        const key = `sk-${alphanumeric(48)}`;
        keys.push(key);
        lines.push(JSON.stringify({ key, owner_email: owner, name: `legacy ${i}` }));
      } else if (i % 3 === 1) {
        const key = `sk_live_${randomBytes(20).toString('hex')}`;
        keys.push(key);
        lines.push(JSON.stringify({ key, owner_email: owner }));
      } else {
        const key = `sk_test_${randomBytes(20).toString('hex')}`;
        keys.push(key);
        const hash = createHash('sha256').update(key).digest('hex');
        lines.push(
          JSON.stringify({
            hash: `sha256:${hash}`,
            start: key.slice(0, 12),
            last4: key.slice(-4),
            owner_email: owner,
            environment: 'test',
          }),
        );
      }
      if (i === 1000) lines.push('');
    }
    const file = join(dir, 'keys.jsonl');
    writeFileSync(file, `${lines.join('\r\n')}\n`);
    const { run, err } = cli(env);
    const summary = await run('keys', 'import', file);
    expect(summary).toMatch(
      /^imported 2000 keys, skipped 0 already present, created 7 accounts in/,
    );
    const progress = err.filter((line) => line.startsWith('imported'));
    expect(progress).toHaveLength(2);
    expect(progress[0]).toMatch(/^imported 1000, skipped 0 already present, \d+ keys\/s$/);
    for (const line of [...err, summary]) for (const key of keys) expect(line).not.toContain(key);

    const opened = await openServices(env);
    try {
      for (const key of keys) {
        const result = await opened.services.verify.verify({ key, ip: null });
        expect(result.code, key.slice(0, 8)).toBe('VALID');
      }
      const stored = JSON.stringify(
        await opened.store.db.selectFrom('api_keys').select(['hash', 'start', 'last4']).execute(),
      );
      for (const key of keys.slice(0, 50)) expect(stored).not.toContain(key);
    } finally {
      await opened.close();
    }

    expect(await run('keys', 'import', file)).toMatch(
      /^imported 0 keys, skipped 2000 already present, created 0 accounts/,
    );
  });

  it('stops at a refused batch, naming its lines, and resumes where it stopped', async () => {
    const good = Array.from({ length: 1500 }, () => `sk-${alphanumeric(48)}`);
    const lines = good.map((key) => JSON.stringify({ key, owner_email: 'resume@example.com' }));
    lines.splice(
      1200,
      0,
      JSON.stringify({ key: 'nope_not_a_key_shape_at_all', owner_email: 'x@example.com' }),
    );
    lines.splice(1300, 0, JSON.stringify({ key: good[0], owner_email: 'x@example.com', color: 1 }));
    const file = join(dir, 'resume.jsonl');
    writeFileSync(file, lines.join('\n'));
    const { run } = cli(env);
    await expect(run('keys', 'import', file)).rejects.toThrow(
      /^1 refused in this batch, which was not imported:\n {2}line 1301: unknown field "color"\n/,
    );
    // The first batch (lines 1-1000) went in; fix the file and run again.
    const fixed = lines.filter((_, i) => i !== 1200 && i !== 1300);
    writeFileSync(file, fixed.join('\n'));
    expect(await run('keys', 'import', file)).toMatch(
      /^imported 500 keys, skipped 1000 already present/,
    );

    writeFileSync(file, `${fixed[0]}\n{"key": "sk-${'x'.repeat(48)}", oops}\n`);
    await expect(run('keys', 'import', file)).rejects.toThrow(
      /^line 2 is not valid JSON; nothing from its batch was imported$/,
    );
    await expect(run('keys', 'import', join(dir, 'missing.jsonl'))).rejects.toThrow(/ENOENT/);
  });
});
