import { InvalidArgumentError } from 'commander';
import type { Config } from '../config.ts';
import { quotedVisibly } from '../core/email.ts';
import { ALL_SCOPES, type Scope } from '../core/token.ts';
import { createServices, type Services } from '../services/index.ts';
import { openStore } from '../storage/database.ts';
import { type LookalikeGroup, migrateToLatest } from '../storage/migrations.ts';

export function parseScopes(text: string): Scope[] {
  const scopes = text.split(',').map((s) => s.trim());
  for (const scope of scopes) {
    if (!(ALL_SCOPES as readonly string[]).includes(scope))
      throw new InvalidArgumentError(
        `unknown scope "${scope}"; choose from ${ALL_SCOPES.join(', ')}`,
      );
  }
  return scopes as Scope[];
}

/** Look-alike accounts, emails quoted with escapes so invisible characters show. */
export function lookalikeLines(groups: LookalikeGroup[]): string[] {
  return groups.map(
    (group) =>
      `! look-alike accounts for ${group.normalised} (left unchanged): ${group.accounts
        .map((a) => `${a.id} ${quotedVisibly(a.email)}`)
        .join(', ')}`,
  );
}

/** Opens the database with migrations applied, runs `fn` with the services, and closes again. */
export async function withServices<T>(
  config: Config,
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const store = openStore(config.database);
  try {
    await migrateToLatest(store.db, store.dialect);
    const services = createServices(config, store);
    try {
      return await fn(services);
    } finally {
      await services.stop();
    }
  } finally {
    await store.close();
  }
}

export async function userIdFor(services: Services, email: string): Promise<string> {
  const user = await services.accounts.findByEmail(email);
  if (user === undefined) throw new Error(`no account with the email ${email}`);
  return user.id;
}
