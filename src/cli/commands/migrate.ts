import type { Command } from 'commander';
import { migrateToLatest } from '../../storage/migrations.ts';
import type { CliContext } from '../context.ts';
import { commandIo, lookalikeLines, openDatabase, withJson } from '../shared.ts';

/** `keyward migrate`: applies pending migrations; with `serve`, the one command that may create the database. */
export function registerMigrate(program: Command, ctx: CliContext): void {
  withJson(program.command('migrate'))
    .description(
      'Apply pending database migrations and exit (creates the SQLite file when there is none)',
    )
    .action(async (options: { json?: boolean }) => {
      const io = commandIo(ctx, options);
      const config = ctx.loadConfig();
      const store = openDatabase(ctx, config, { mayCreate: true });
      try {
        const report = await migrateToLatest(store.db, store.dialect);
        io.result({ applied: report.applied, lookalikes: report.lookalikes }, () => [
          report.applied.length === 0
            ? 'database is up to date'
            : `applied: ${report.applied.join(', ')}`,
          ...lookalikeLines(report.lookalikes),
        ]);
      } finally {
        await store.close();
      }
    });
}
