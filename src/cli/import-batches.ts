import { ImportRefusedError, type ItemError } from '../core/errors.ts';
import { CLI_ACTOR } from '../services/actor.ts';
import type { Services } from '../services/index.ts';
import type { ImportItem } from '../services/key-import.ts';

/** Running totals of an import, and the progress line written to stderr after each batch. */
export class ImportProgress {
  imported = 0;
  skipped = 0;
  ownersCreated = 0;
  private readonly started = Date.now();

  add(outcome: { imported: number; skipped: number; ownersCreated: number }): void {
    this.imported += outcome.imported;
    this.skipped += outcome.skipped;
    this.ownersCreated += outcome.ownersCreated;
  }

  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  rate(): number {
    return Math.round((this.imported + this.skipped) / Math.max(this.seconds, 0.001));
  }

  line(): string {
    return `imported ${this.imported}, skipped ${this.skipped} already present, ${this.rate()} keys/s`;
  }
}

/** Imports one batch; a refusal names the refused items by the label `where` gives them. */
export async function importBatch(
  services: Services,
  items: ImportItem[],
  progress: ImportProgress,
  where: (index: number) => string,
): Promise<void> {
  try {
    progress.add(await services.keyImport.importKeys(CLI_ACTOR, items));
  } catch (error) {
    if (error instanceof ImportRefusedError) throw refusal(error.items, where);
    throw error;
  }
}

export function refusal(items: readonly ItemError[], where: (index: number) => string): Error {
  const lines = items.slice(0, 20).map((item) => `  ${where(item.index)}: ${item.message}`);
  if (items.length > 20) lines.push(`  … and ${items.length - 20} more`);
  return new Error(
    `${items.length} refused in this batch, which was not imported:\n${lines.join('\n')}\nFix them and run the same command again: keys imported before are skipped.`,
  );
}
