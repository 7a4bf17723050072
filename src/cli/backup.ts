import type { Command } from 'commander';
import type { Config } from '../config.ts';
import { BackupError, backupSqlite, type DatabaseFacts, restoreSqlite } from '../storage/backup.ts';
import type { CliContext } from './context.ts';
import { JSON_HELP } from './shared.ts';

/** The SQLite file of the configured database; PostgreSQL is refused with what to use instead. */
function sqlitePath(config: Config, command: 'backup' | 'restore'): string {
  if (config.database.kind === 'sqlite') return config.database.path;
  throw new BackupError(
    command === 'backup'
      ? 'keyward backup copies SQLite databases; DATABASE_URL is PostgreSQL: back it up with pg_dump (or base backups and WAL archiving for point-in-time recovery), see docs/OPERATIONS.md'
      : 'keyward restore puts back SQLite backups; DATABASE_URL is PostgreSQL: restore with pg_restore or psql, see docs/OPERATIONS.md',
  );
}

function size(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function describe(facts: DatabaseFacts): string[] {
  const last = facts.migrations[facts.migrations.length - 1];
  return [
    `  ${size(facts.bytes)}, ${facts.migrations.length} migration${facts.migrations.length === 1 ? '' : 's'} (last: ${last}), integrity_check ok`,
    `  rows: ${Object.entries(facts.rows)
      .filter(([table]) => !table.startsWith('keyward_migrations'))
      .map(([table, count]) => `${table} ${count}`)
      .join(', ')}`,
  ];
}

/** `keyward backup` and `keyward restore` (docs/OPERATIONS.md). */
export function registerBackupCommands(program: Command, ctx: CliContext): void {
  const { output } = ctx;
  program
    .command('backup')
    .description(
      'Copy the SQLite database to FILE while servers keep serving (SQLite online backup; for PostgreSQL use pg_dump)',
    )
    .requiredOption('--to <file>', 'the backup file to write (its directory must exist)')
    .option('--force', 'replace FILE if it exists', false)
    .option('--json', JSON_HELP, false)
    .action(async (options: { to: string; force: boolean; json: boolean }) => {
      const path = sqlitePath(ctx.loadConfig(), 'backup');
      const facts = await backupSqlite(path, options.to, { force: options.force });
      if (options.json) {
        output.out(JSON.stringify({ database: path, backup: facts }, null, 2));
        return;
      }
      output.out(`backed up ${path} to ${facts.path}`);
      for (const line of describe(facts)) output.out(line);
    });

  program
    .command('restore')
    .description(
      'Replace the SQLite database with a backup made by keyward backup; every server using the database must be stopped',
    )
    .requiredOption('--from <file>', 'the backup file to restore')
    .option('--json', JSON_HELP, false)
    .action(async (options: { from: string; json: boolean }) => {
      const path = sqlitePath(ctx.loadConfig(), 'restore');
      const report = await restoreSqlite(options.from, path);
      if (options.json) {
        output.out(
          JSON.stringify({ database: path, from: options.from, restored: report }, null, 2),
        );
        return;
      }
      output.out(`restored ${report.path} from ${options.from}`);
      for (const line of describe(report)) output.out(line);
      if (report.previous !== null)
        output.out(`the database it replaced is kept at ${report.previous}`);
      output.out('start the server: it applies any migration the backup lacks');
    });
}
