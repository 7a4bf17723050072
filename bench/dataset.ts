/**
 * Bench datasets: a database with an admin account, the tokens and key the load benchmarks
 * present, and optionally many more keys written straight through Kysely in multi-row inserts
 * (P4: 10,000 and 1,000,000 keys; P8: 100,000 keys to page through).
 *
 *   node bench/dataset.ts --db /tmp/k.db --keys 1000000 [--keys-file /tmp/keys.txt] [--json]
 *
 * Secrets come from the project's own generator (generateApiKey: CSPRNG, stored as SHA-256 hex)
 * and ids from newId, so the rows are what the service itself would write.
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Insertable, Kysely } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { generateApiKey, type NewApiKey } from '../src/core/api-key.ts';
import { newId } from '../src/core/secrets.ts';
import { CLI_ACTOR } from '../src/services/actor.ts';
import { createServices } from '../src/services/index.ts';
import { openStore } from '../src/storage/database.ts';
import { migrateToLatest } from '../src/storage/migrations.ts';
import type { ApiKeysTable, Database } from '../src/storage/schema.ts';

/** better-sqlite3's SQLite allows 32,766 bound values: 1,000 rows of 25 columns stay under it. */
const ROWS_PER_INSERT = 1_000;
/** Commit every so many rows so the WAL is checkpointed instead of growing to the whole table. */
const ROWS_PER_TRANSACTION = 100_000;

export interface GenerateKeysOptions {
  ownerId: string;
  count: number;
  /** Key prefix of the deployment (KEY_PREFIX); `sk` by default. */
  prefix?: string;
  /** Receives every plaintext secret, one per line, for load generators that draw from them. */
  secrets?: (chunk: string[]) => void | Promise<void>;
  /** created_at of the first key; later keys are 1 ms apart so pages have a stable order. */
  createdAt?: number;
}

/** Inserts `count` active, unrestricted keys for one owner; resolves with the elapsed ms. */
export async function generateKeys(
  db: Kysely<Database>,
  options: GenerateKeysOptions,
): Promise<number> {
  const started = performance.now();
  const prefix = options.prefix ?? 'sk';
  const base = options.createdAt ?? Date.now() - options.count;
  // Inserting in hash order turns the unique index on hash (the largest one) into appends instead
  // of a random write per row.
  const keys: NewApiKey[] = new Array(options.count);
  for (let n = 0; n < options.count; n++) keys[n] = generateApiKey(prefix, 'live');
  keys.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  let written = 0;
  while (written < options.count) {
    const inTransaction = Math.min(ROWS_PER_TRANSACTION, options.count - written);
    await db.transaction().execute(async (trx) => {
      for (let done = 0; done < inTransaction; done += ROWS_PER_INSERT) {
        const rows: Insertable<ApiKeysTable>[] = [];
        const size = Math.min(ROWS_PER_INSERT, inTransaction - done);
        for (let i = 0; i < size; i++) {
          const n = written + done + i;
          const key = keys[n] as NewApiKey;
          const at = base + n;
          rows.push({
            id: newId('key'),
            owner_id: options.ownerId,
            name: `bench key ${n}`,
            environment: 'live',
            hash: key.hash,
            start: key.start,
            last4: key.last4,
            permissions: '["*"]',
            ip_allowlist: '[]',
            allowed_resources: '[]',
            expires_at: null,
            enabled: 1,
            revoked_at: null,
            created_at: at,
            updated_at: at,
            last_used_at: null,
            usage_count: 0,
            limits: '{}',
            credits_remaining: null,
            credits_refill: null,
            credits_refill_period: null,
            billing: 'per_request',
            metadata: '{}',
            rotated_from: null,
            rotated_to: null,
          });
        }
        await trx.insertInto('api_keys').values(rows).execute();
      }
    });
    if (options.secrets)
      await options.secrets(keys.slice(written, written + inTransaction).map((k) => k.secret));
    written += inTransaction;
  }
  return performance.now() - started;
}

export interface Dataset {
  dbPath: string;
  adminId: string;
  /** An unrestricted key of the admin, created through the key service (P1, P5). */
  key: string;
  /** A service token with keys:verify (P2). */
  serviceToken: string;
  /** A management token with keys:read and keys:write, of the admin (P8). */
  managementToken: string;
  /** Extra keys generated in bulk and how long writing them took. */
  generated: { count: number; ms: number; secretsFile: string | null };
}

/**
 * A migrated SQLite database holding one admin on the enterprise plan (no key limit), a key and
 * two tokens made through the services, and `extraKeys` bulk-generated keys of that admin.
 */
export async function createDataset(options: {
  dbPath: string;
  extraKeys?: number;
  secretsFile?: string;
}): Promise<Dataset> {
  const config = loadConfig({ DATABASE_URL: `sqlite:${options.dbPath}`, LOG_LEVEL: 'silent' });
  const store = openStore(config.database);
  try {
    await migrateToLatest(store.db, store.dialect);
    const services = createServices(config, store);
    const admin = await services.accounts.createUser(CLI_ACTOR, {
      email: `bench-${Date.now()}@example.com`,
      password: 'bench password, not a secret',
      role: 'admin',
      plan: 'enterprise',
    });
    const { secret: key } = await services.keys.create(CLI_ACTOR, {
      name: 'bench',
      ownerId: admin.id,
    });
    const service = await services.tokens.create(CLI_ACTOR, {
      name: 'bench verify',
      scopes: ['keys:verify'],
      ownerId: admin.id,
    });
    const management = await services.tokens.create(CLI_ACTOR, {
      name: 'bench management',
      scopes: ['keys:read', 'keys:write'],
      ownerId: admin.id,
    });
    await services.stop();
    const count = options.extraKeys ?? 0;
    let ms = 0;
    if (count > 0) {
      const file =
        options.secretsFile === undefined ? null : createWriteStream(options.secretsFile);
      ms = await generateKeys(store.db, {
        ownerId: admin.id,
        count,
        prefix: config.keyPrefix,
        async secrets(chunk) {
          if (file !== null && !file.write(`${chunk.join('\n')}\n`)) await once(file, 'drain');
        },
      });
      if (file !== null) {
        file.end();
        await once(file, 'close');
      }
    }
    return {
      dbPath: options.dbPath,
      adminId: admin.id,
      key,
      serviceToken: service.secret,
      managementToken: management.secret,
      generated: { count, ms, secretsFile: options.secretsFile ?? null },
    };
  } finally {
    await store.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      db: { type: 'string' },
      keys: { type: 'string', default: '10000' },
      'keys-file': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.db === undefined) {
    console.error('usage: node bench/dataset.ts --db PATH [--keys N] [--keys-file PATH]');
    process.exit(2);
  }
  const dataset = await createDataset({
    dbPath: values.db,
    extraKeys: Number(values.keys),
    ...(values['keys-file'] !== undefined && { secretsFile: values['keys-file'] }),
  });
  // --json is for bench/compare.ts, which builds each checkout's database with its own code.
  if (values.json) console.log(`DATASET_JSON ${JSON.stringify(dataset)}`);
  console.log(
    `${dataset.generated.count.toLocaleString('en-US')} keys written to ${dataset.dbPath} in ${(dataset.generated.ms / 1000).toFixed(1)} s`,
  );
}
