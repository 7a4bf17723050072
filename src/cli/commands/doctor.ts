import type { Command } from 'commander';
import type { Config } from '../../config.ts';
import { pingRedis } from '../../limits/redis-client.ts';
import { openStore } from '../../storage/database.ts';
import { findLookalikeAccounts, pendingMigrations } from '../../storage/migrations.ts';
import type { CliContext } from '../context.ts';
import { lookalikeLines } from '../shared.ts';

/** doctor found a problem: the process exits 1 after printing its report. */
export class DoctorFailed extends Error {
  constructor() {
    super('doctor found problems');
    this.name = 'DoctorFailed';
  }
}

/** `keyward doctor`: checks the configuration, the database and Redis. */
export function registerDoctor(program: Command, ctx: CliContext): void {
  const { output } = ctx;
  program
    .command('doctor')
    .description('Check the configuration, the database (and migrations) and Redis')
    .action(async () => {
      let config: Config;
      try {
        config = ctx.loadConfig();
      } catch (error) {
        output.out(`✗ configuration: ${(error as Error).message}`);
        throw new DoctorFailed();
      }
      output.out(
        `✓ configuration (database: ${config.database.kind}, key prefix: ${config.keyPrefix})`,
      );
      let failed = false;
      const store = openStore(config.database);
      try {
        await store.ping();
        const pending = await pendingMigrations(store.db, store.dialect);
        output.out(
          pending.length === 0
            ? '✓ database reachable, migrations applied'
            : `! database reachable; pending migrations: ${pending.join(', ')} (run: keyward migrate)`,
        );
        for (const line of lookalikeLines(await findLookalikeAccounts(store.db))) output.out(line);
      } catch (error) {
        failed = true;
        output.out(`✗ database: ${(error as Error).message}`);
      } finally {
        await store.close().catch(() => {});
      }
      if (config.redisUrl === null) {
        output.out('- Redis not configured (REDIS_URL unset): single-node mode');
      } else {
        try {
          const ms = await pingRedis(config.redisUrl);
          output.out(`✓ Redis reachable (PING ${ms.toFixed(1)} ms): limits shared by every node`);
        } catch (error) {
          failed = true;
          output.out(`✗ Redis: ${(error as Error).message}`);
        }
      }
      if (failed) throw new DoctorFailed();
    });
}
