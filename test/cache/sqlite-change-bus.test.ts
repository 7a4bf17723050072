import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { openStore, type Store } from '../../src/storage/database.ts';
import { migrateToLatest } from '../../src/storage/migrations.ts';
import { DATABASES, type DatabaseKind, type TestDatabase } from '../helpers/databases.ts';

const sqlite = DATABASES.find((kind) => kind.name === 'sqlite') as DatabaseKind;

/**
 * The default single-node set-up: SQLite, no Redis. The server's caches keep records without a
 * fresh TTL, and a change committed by another process (here a second connection with its own
 * services, as the CLI opens) reaches them through SQLite's data_version.
 */
describe('SQLite change bus', () => {
  let database: TestDatabase;
  let server: { store: Store; services: Services; clock: ManualClock };
  let cli: { store: Store; services: Services };

  beforeAll(async () => {
    database = await sqlite.create();
    const config = loadConfig({ DATABASE_URL: database.config.url, LOG_LEVEL: 'silent' });
    expect(config.invalidationBus).toBe('sqlite');
    const store = openStore(config.database);
    await migrateToLatest(store.db, store.dialect);
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
    server = { store, clock, services: createServices(config, store, { clock }) };
    await server.services.start();
    const cliStore = openStore(config.database);
    cli = { store: cliStore, services: createServices(config, cliStore) };
  });

  afterAll(async () => {
    await server.services.stop();
    await server.store.close();
    await cli.services.stop();
    await cli.store.close();
    await database.drop();
  });

  it('keeps a key cached past KEY_CACHE_TTL, and drops it when another process revokes it', async () => {
    const owner = await cli.services.accounts.createUser(CLI_ACTOR, {
      email: `bus-${Date.now()}@example.com`,
      password: 'a long enough password',
      role: 'user',
      plan: 'enterprise',
    });
    const created = await cli.services.keys.create(CLI_ACTOR, { name: 'k', ownerId: owner.id });
    const verify = () => server.services.verify.verify({ key: created.secret, ip: null });
    expect((await verify()).code).toBe('VALID');
    // An hour later (the default KEY_CACHE_TTL is 5 s) the record still comes from the cache:
    // the answer is synchronous, without a database read.
    server.clock.advance(3_600_000);
    const cached = verify();
    expect(cached).not.toBeInstanceOf(Promise);
    expect((cached as Awaited<typeof cached>).code).toBe('VALID');

    await cli.services.keys.revoke(CLI_ACTOR, created.key.id);
    let code = (await verify()).code;
    for (let i = 0; i < 50 && code === 'VALID'; i++) {
      await sleep(100);
      code = (await verify()).code;
    }
    expect(code).toBe('REVOKED');
  });
});
