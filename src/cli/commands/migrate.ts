import type { Command } from 'commander';
import { openStore } from '../../storage/database.ts';
import { migrateToLatest } from '../../storage/migrations.ts';
import type { CliContext } from '../context.ts';
import { lookalikeLines } from '../shared.ts';

/** `keyward migrate`: applies pending migrations. */
export function registerMigrate(program: Command, ctx: CliContext): void {
  const { output } = ctx;
  program
    .command('migrate')
    .description('Apply pending database migrations and exit')
    .action(async () => {
      const config = ctx.loadConfig();
      const store = openStore(config.database);
      try {
        const report = await migrateToLatest(store.db, store.dialect);
        output.out(
          report.applied.length === 0
            ? 'database is up to date'
            : `applied: ${report.applied.join(', ')}`,
        );
        for (const line of lookalikeLines(report.lookalikes)) output.out(line);
      } finally {
        await store.close();
      }
    });
}
