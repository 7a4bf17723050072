import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { checkImportItems } from '../http/import-items.ts';
import type { Services } from '../services/index.ts';
import { MAX_IMPORT_BATCH } from '../services/key-import.ts';
import type { CliContext } from './context.ts';
import { ImportProgress, importBatch, refusal } from './import-batches.ts';
import { importNewApi, NEW_API_DEFAULT_EMAIL_DOMAIN } from './new-api.ts';
import { withServices } from './shared.ts';

/**
 * `keyward keys import FILE.jsonl`: one key per line, in the body format of POST /v1/keys/import.
 * The file is streamed in batches of 1,000 keys, each all or nothing; a refused batch stops the
 * run with every refused line listed, and running it again skips what was imported already.
 */
async function importFile(
  services: Services,
  file: string,
  output: CliContext['output'],
): Promise<ImportProgress> {
  const progress = new ImportProgress();
  const lines = createInterface({
    input: createReadStream(file, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let values: unknown[] = [];
  let lineNumbers: number[] = [];
  const flush = async () => {
    if (values.length === 0) return;
    const numbers = lineNumbers;
    const where = (index: number) => `line ${numbers[index]}`;
    const checked = checkImportItems(values);
    if (!checked.ok) throw refusal(checked.errors, where);
    await importBatch(services, checked.items, progress, where);
    output.err(progress.line());
    values = [];
    lineNumbers = [];
  };
  let number = 0;
  for await (const text of lines) {
    number += 1;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // Not the parser's message: it quotes the line, which may hold a key.
      throw new Error(`line ${number} is not valid JSON; nothing from its batch was imported`);
    }
    values.push(value);
    lineNumbers.push(number);
    if (values.length === MAX_IMPORT_BATCH) await flush();
  }
  await flush();
  return progress;
}

/** Registers `keys import` (under the `keys` group, registered before) and `import new-api`. */
export function registerImportCommands(program: Command, ctx: CliContext): void {
  const { output } = ctx;
  const keys = program.commands.find((command) => command.name() === 'keys');
  if (keys === undefined) throw new Error('register the keys commands before the import commands');
  keys
    .command('import')
    .description(
      'Import keys made elsewhere from a JSONL file (one POST /v1/keys/import item per line): streamed in batches of 1,000, progress on stderr; re-running skips keys already present',
    )
    .argument('<file>', 'the .jsonl file')
    .action(async (file: string) => {
      await withServices(ctx, async (services) => {
        const progress = await importFile(services, file, output);
        output.out(
          `imported ${progress.imported} keys, skipped ${progress.skipped} already present, created ${progress.ownersCreated} accounts in ${progress.seconds.toFixed(1)} s (${progress.rate()} keys/s)`,
        );
      });
    });

  program
    .command('import')
    .description('Import the keys of another system')
    .command('new-api')
    .description(
      "Import the tokens and users of new-api / one-api (see docs/MIGRATING.md): its keys then verify unchanged; needs ACCEPTED_KEY_SHAPES to include '^sk-[A-Za-z0-9]{48}$'",
    )
    .requiredOption(
      '--database <source>',
      "new-api's database: a SQLite file path (or sqlite:PATH) or a postgres:// URL",
    )
    .option(
      '--email-domain <domain>',
      'accounts for users without an email are named username@DOMAIN',
      NEW_API_DEFAULT_EMAIL_DOMAIN,
    )
    .action(async (options: { database: string; emailDomain: string }) => {
      await withServices(ctx, async (services) => {
        const summary = await importNewApi(services, options, (line) => output.err(line));
        for (const line of summary) output.out(line);
      });
    });
}
