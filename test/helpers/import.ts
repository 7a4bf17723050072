import { randomBytes } from 'node:crypto';
import { buildProgram } from '../../src/cli/program.ts';
import { loadConfig } from '../../src/config.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { openStore, type Store } from '../../src/storage/database.ts';

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Letters and digits, as one-api / new-api keys are made of. */
export function alphanumeric(length: number): string {
  let out = '';
  for (const byte of randomBytes(length)) out += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return out;
}

/** Runs CLI commands with `env` as the environment, collecting stdout and stderr lines. */
export function cli(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const run = async (...args: string[]) => {
    out.length = 0;
    err.length = 0;
    const program = buildProgram({
      loadConfig: () => loadConfig(env),
      output: { out: (l) => out.push(l), err: (l) => err.push(l) },
      untilSignal: () => Promise.resolve('SIGTERM'),
    });
    await program.parseAsync(['node', 'keyward', ...args]);
    return out.join('\n');
  };
  return { run, out, err };
}

/** Services over the database the CLI wrote, to verify what it imported. */
export async function openServices(
  env: Record<string, string>,
): Promise<{ services: Services; store: Store; close(): Promise<void> }> {
  const config = loadConfig(env);
  const store = openStore(config.database);
  const services = createServices(config, store);
  return {
    services,
    store,
    async close() {
      await services.stop();
      await store.close();
    },
  };
}
