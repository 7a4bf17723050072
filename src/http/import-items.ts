import type { ItemError } from '../core/errors.ts';
import type { ImportItem } from '../services/key-import.ts';
import { itemChecker } from './plugins/validation.ts';
import { ImportKeyItem } from './schemas/keys.ts';

const check = itemChecker(ImportKeyItem);

/**
 * Checks each item of an import against the ImportKeyItem schema: the items (typed) when all
 * pass, or every refused item's position and reason. Shared by the HTTP route and the CLI.
 */
export function checkImportItems(
  values: readonly unknown[],
): { ok: true; items: ImportItem[] } | { ok: false; errors: ItemError[] } {
  const errors: ItemError[] = [];
  values.forEach((value, index) => {
    const problem = check(value);
    if (problem !== null) errors.push({ index, code: 'validation_error', message: problem });
  });
  return errors.length === 0 ? { ok: true, items: values as ImportItem[] } : { ok: false, errors };
}
