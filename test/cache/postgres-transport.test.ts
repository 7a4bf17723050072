// Changes announced just before a process closes its bus (a CLI command: `keyward user delete`,
// then exit) must all reach the other nodes. NOTIFYs still queued for one of the notifier pool's
// two connections were dropped when the pool ended (10 of 30 arrived here); a running node kept a
// deleted account's key VALID until KEY_CACHE_TTL (seen in CI, test/cli/commands.test.ts).
import { describe, expect, it, vi } from 'vitest';
import { PostgresBusTransport } from '../../src/cache/postgres-transport.ts';
import { DATABASES } from '../helpers/databases.ts';

const postgres = DATABASES.find((kind) => kind.name === 'postgres');

describe.skipIf(postgres === undefined)('PostgreSQL bus transport', () => {
  it('delivers what was sent right before close()', async () => {
    const database = await (postgres ?? DATABASES[0])?.create();
    if (database === undefined) throw new Error('no database');
    const url = database.config.url;
    const received: string[] = [];
    const listener = new PostgresBusTransport(url);
    let up = false;
    await listener.start({
      onMessage: (text) => received.push(text),
      onUp: () => {
        up = true;
      },
      onDown: () => {},
    });
    await vi.waitFor(() => expect(up).toBe(true), { timeout: 5000 });
    try {
      for (let round = 0; round < 5; round += 1) {
        // A fresh sender each time: its notifier pool has no connection yet when close() comes.
        // More sends than the notifier pool has connections: some wait in its queue.
        const sender = new PostgresBusTransport(url);
        for (let n = 0; n < 6; n += 1) sender.send(`node-${round} key hash-${n}`);
        await sender.close();
      }
      await vi.waitFor(() => expect(received).toHaveLength(30), { timeout: 5000 });
      expect(new Set(received).size).toBe(30);
    } finally {
      await listener.close();
      await database.drop();
    }
  });
});
