import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { sql } from 'kysely';
import type { Config } from '../../config.ts';
import { pingRedis, redisMemorySettings } from '../../limits/redis-client.ts';
import type { Store } from '../../storage/database.ts';
import { findLookalikeAccounts, pendingMigrations } from '../../storage/migrations.ts';
import type { CliContext } from '../context.ts';
import { lookalikeLines, openDatabase, ReportedFailure, withJson } from '../shared.ts';

/** doctor found a problem: the process exits 1 after printing its report. */
export class DoctorFailed extends ReportedFailure {
  constructor() {
    super('doctor found problems');
    this.name = 'DoctorFailed';
  }
}

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: CheckStatus;
  message: string;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };

/** Clock skew beyond this is reported: expiry, quota periods and rate windows read each node's clock. */
export const CLOCK_SKEW_WARN_MS = 1000;
/** Free space below either of these is reported for the SQLite file's file system. */
export const DISK_WARN_BYTES = 1024 ** 3;
export const DISK_WARN_SHARE = 0.05;

/**
 * Whether Redis may evict what Keyward keeps there. Keyward stores only rate-limit windows (GCRA
 * timestamps) and quota counters, each with a TTL, and uses pub/sub for invalidations. Because
 * every key has a TTL, the volatile-* policies evict them as readily as allkeys-*: only
 * `noeviction` keeps them (a full Redis then refuses writes, which the limiter reports as a
 * failure and RATE_LIMIT_FAILURE answers).
 */
export function evictionCheck(settings: { policy: string; maxmemory: number } | null): Check {
  const name = 'redis_eviction';
  if (settings === null) {
    return {
      name,
      status: 'warn',
      message:
        'Redis maxmemory-policy could not be read (CONFIG GET refused): make sure it is noeviction, or Redis may evict rate-limit windows and quota counters',
    };
  }
  if (settings.policy === 'noeviction') {
    return {
      name,
      status: 'ok',
      message:
        'Redis maxmemory-policy is noeviction: rate-limit windows and quota counters are never evicted',
    };
  }
  const unlimited =
    settings.maxmemory === 0 ? ' (maxmemory is 0, so nothing is evicted until a limit is set)' : '';
  return {
    name,
    status: 'warn',
    message: `Redis maxmemory-policy is ${settings.policy}${unlimited}: when Redis is full it may evict Keyward's rate-limit windows and quota counters (each has a TTL, so volatile-* policies evict them too). An evicted window lets a burst through; an evicted quota counter is read again from the database, missing usage not yet flushed. Set maxmemory-policy noeviction, or run Keyward on a Redis of its own.`,
  };
}

function formatBytes(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

async function diskCheck(config: Config): Promise<Check> {
  const name = 'disk_space';
  if (config.database.kind !== 'sqlite' || config.database.path === ':memory:') {
    return {
      name,
      status: 'skip',
      message: 'free disk space: the database lives on the PostgreSQL server; watch its disk there',
    };
  }
  const directory = dirname(resolve(config.database.path));
  const fs = await statfs(directory);
  const free = fs.bavail * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const share = total === 0 ? 1 : free / total;
  const text = `${formatBytes(free)} free (${(share * 100).toFixed(0)} %) in ${directory}`;
  if (free < DISK_WARN_BYTES || share < DISK_WARN_SHARE) {
    return {
      name,
      status: 'warn',
      message: `disk space low: ${text}; when it runs out, writes answer 503 storage_full until there is room`,
    };
  }
  return { name, status: 'ok', message: `disk space: ${text}` };
}

/** This host's clock against the database server's, half a round trip either way. */
async function clockCheck(store: Store): Promise<Check> {
  const name = 'clock_skew';
  if (store.dialect === 'sqlite') {
    return {
      name,
      status: 'skip',
      message:
        'clock skew: SQLite has no clock of its own (it runs in this process), nothing to compare',
    };
  }
  const before = Date.now();
  const row = await sql<{
    ms: number;
  }>`select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms`.execute(store.db);
  const after = Date.now();
  const databaseMs = Number(row.rows[0]?.ms);
  const skew = Math.round(databaseMs - (before + after) / 2);
  const margin = Math.ceil((after - before) / 2);
  const text = `this host's clock is ${Math.abs(skew)} ms ${skew > 0 ? 'behind' : 'ahead of'} the database server's (± ${margin} ms)`;
  if (Math.abs(skew) - margin > CLOCK_SKEW_WARN_MS) {
    return {
      name,
      status: 'warn',
      message: `clock skew: ${text}. Key expiry, quota periods and rate windows use each node's clock: keep every node in sync (NTP: chrony or systemd-timesyncd)`,
    };
  }
  return { name, status: 'ok', message: `clock: ${text}` };
}

/** `keyward doctor`: checks the configuration, the database and Redis. */
export function registerDoctor(program: Command, ctx: CliContext): void {
  const { output } = ctx;
  withJson(program.command('doctor'))
    .description(
      'Check the configuration, the database (migrations, clock skew, free disk space) and Redis (reachable, maxmemory-policy)',
    )
    .action(async (options: { json?: boolean }) => {
      const checks: Check[] = [];
      const add = (check: Check) => {
        checks.push(check);
        if (!options.json) output.out(`${MARK[check.status]} ${check.message}`);
      };
      const finish = () => {
        const ok = !checks.some((c) => c.status === 'fail');
        if (options.json) output.out(JSON.stringify({ ok, checks }, null, 2));
        if (!ok) throw new DoctorFailed();
      };
      let config: Config;
      try {
        config = ctx.loadConfig();
      } catch (error) {
        add({
          name: 'configuration',
          status: 'fail',
          message: `configuration: ${(error as Error).message}`,
        });
        return finish();
      }
      add({
        name: 'configuration',
        status: 'ok',
        message: `configuration (database: ${config.database.kind}, key prefix: ${config.keyPrefix})`,
      });
      let store: Store | undefined;
      try {
        store = openDatabase(ctx, config, { mayCreate: false });
        await store.ping();
        const pending = await pendingMigrations(store.db, store.dialect);
        add(
          pending.length === 0
            ? { name: 'database', status: 'ok', message: 'database reachable, migrations applied' }
            : {
                name: 'database',
                status: 'warn',
                message: `database reachable; pending migrations: ${pending.join(', ')} (run: keyward migrate)`,
              },
        );
        for (const line of lookalikeLines(await findLookalikeAccounts(store.db)))
          add({ name: 'lookalike_accounts', status: 'warn', message: line.replace(/^! /, '') });
        add(await clockCheck(store));
      } catch (error) {
        add({ name: 'database', status: 'fail', message: `database: ${(error as Error).message}` });
      } finally {
        await store?.close().catch(() => {});
      }
      try {
        add(await diskCheck(config));
      } catch (error) {
        add({
          name: 'disk_space',
          status: 'warn',
          message: `disk space could not be read: ${(error as Error).message}`,
        });
      }
      if (config.redisUrl === null) {
        add({
          name: 'redis',
          status: 'skip',
          message: 'Redis not configured (REDIS_URL unset): single-node mode',
        });
      } else {
        try {
          const ms = await pingRedis(config.redisUrl);
          add({
            name: 'redis',
            status: 'ok',
            message: `Redis reachable (PING ${ms.toFixed(1)} ms): limits shared by every node`,
          });
          add(evictionCheck(await redisMemorySettings(config.redisUrl)));
        } catch (error) {
          add({ name: 'redis', status: 'fail', message: `Redis: ${(error as Error).message}` });
        }
      }
      finish();
    });
}
