import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CompiledQuery, Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/**
 * Multi-row statements compiled once per dialect and row count, keyed by the dialect adapter
 * (shared by a database and its transactions). Kysely's builder costs a few µs per row, more than
 * SQLite's insert itself, and the usage flush writes thousands of rows a second.
 */
const compiled = new WeakMap<object, Map<string, CompiledQuery>>();

function sameParameters(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Runs the statement `build(chunk)` compiles for every `size` rows of `rows`. A full chunk's statement is compiled the
 * first time and then reused with the rows' parameters, which `parameters` lists in the order
 * the statement binds them (checked against Kysely's own on that first compile).
 */
export async function executeInChunks<R>(
  db: Db,
  name: string,
  rows: readonly R[],
  size: number,
  build: (chunk: R[]) => CompiledQuery,
  parameters: (row: R) => readonly unknown[],
): Promise<void> {
  const adapter = db.getExecutor().adapter;
  let statements = compiled.get(adapter);
  if (statements === undefined) {
    statements = new Map();
    compiled.set(adapter, statements);
  }
  for (let i = 0; i < rows.length; i += size) {
    // Before each chunk, let the event loop serve requests: SQLite runs in this thread, and a
    // flush of 10,000 keys' usage would otherwise hold every answer for its whole 100–200 ms.
    await nextTurn();
    const chunk = rows.slice(i, i + size);
    const values = chunk.flatMap(parameters);
    const id = `${name}/${chunk.length}`;
    const known = statements.get(id);
    if (known !== undefined) {
      await db.executeQuery({ ...known, parameters: values });
      continue;
    }
    const query = build(chunk);
    if (!sameParameters(query.parameters, values))
      throw new Error(`${name}: the listed parameters do not match the statement's`);
    if (chunk.length === size) statements.set(id, query);
    await db.executeQuery(query);
  }
}
