import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { Config, DatabaseConfig } from '../config.ts';
import { quotedVisibly } from '../core/email.ts';
import type { User } from '../core/models.ts';
import { ALL_SCOPES, type Scope } from '../core/token.ts';
import { createServices, type Services } from '../services/index.ts';
import { openStore, type Store } from '../storage/database.ts';
import { type LookalikeGroup, migrateToLatest } from '../storage/migrations.ts';
import type { CliContext } from './context.ts';

/**
 * A failure the CLI reports itself: `code` is what `--json` prints in `{"error": {"code"}}`
 * (the API's codes where a service answered, else one of the CLI's own, docs/CONFIGURATION.md).
 */
export class CliError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}

/** A failure the command has already reported (doctor's findings, gateway check's problems): exit 1. */
export class ReportedFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportedFailure';
  }
}

/** How a command prints: text lines for people, or one JSON document with `--json`. */
export interface CommandIo {
  json: boolean;
  /** Prints the command's result: `value` as JSON with `--json`, else the text lines. */
  result(value: unknown, text: () => string[]): void;
}

export function commandIo(ctx: CliContext, options: { json?: boolean }): CommandIo {
  const json = options.json === true;
  return {
    json,
    result(value, text) {
      if (json) ctx.output.out(JSON.stringify(value, null, 2));
      else for (const line of text()) ctx.output.out(line);
    },
  };
}

export const JSON_HELP = 'print one JSON document on standard output (errors too: {"error": …})';

/** Adds `--json` to a command; every command has it. */
export function withJson(command: Command): Command {
  return command.option('--json', JSON_HELP);
}

/** A commander option parser for a whole number from `min` to `max`, with a clear error. */
export function integerOption(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d{1,15}$/.test(text.trim()) || value < min || value > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

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

/**
 * The database as it may be shown: a SQLite file's absolute path, or the PostgreSQL URL with its
 * password (in the user part or a `password` parameter) replaced by `***`.
 */
export function describeDatabase(database: DatabaseConfig): string {
  if (database.kind === 'sqlite') {
    return `SQLite ${database.path === ':memory:' ? ':memory:' : resolve(database.path)}`;
  }
  try {
    const url = new URL(database.url);
    if (url.password !== '') url.password = '***';
    for (const name of [...url.searchParams.keys()]) {
      if (/pass|secret|key/i.test(name)) url.searchParams.set(name, '***');
    }
    return `PostgreSQL ${url.toString().replaceAll('%2A%2A%2A', '***')}`;
  } catch {
    return 'PostgreSQL (a URL that could not be parsed)';
  }
}

/**
 * Opens the configured database and says which one on standard error (standard output stays the
 * command's result). Only `migrate` and `serve` may create a SQLite file: for every other command
 * a missing file means the wrong working directory or DATABASE_URL, and an empty database opened
 * there would answer "no such account" for accounts that exist elsewhere.
 */
export function openDatabase(
  ctx: CliContext,
  config: Config,
  options: { mayCreate: boolean },
): Store {
  const database = config.database;
  if (
    database.kind === 'sqlite' &&
    database.path !== ':memory:' &&
    !options.mayCreate &&
    !existsSync(database.path)
  ) {
    throw new CliError(
      'database_missing',
      `no database at ${resolve(database.path)} (DATABASE_URL=${database.url}, relative paths are read from the working directory ${process.cwd()}). Run this command from the directory Keyward runs in, set DATABASE_URL to the database, or create a new one with: keyward migrate`,
    );
  }
  ctx.output.err(`database: ${describeDatabase(database)}`);
  return openStore(database);
}

/** Opens the database with migrations applied, runs `fn` with the services, and closes again. */
export async function withServices<T>(
  ctx: CliContext,
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const config = ctx.loadConfig();
  const store = openDatabase(ctx, config, { mayCreate: false });
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

export async function userByEmail(services: Services, email: string): Promise<User> {
  const user = await services.accounts.findByEmail(email);
  if (user === undefined) throw new CliError('not_found', `no account with the email ${email}`);
  return user;
}

export async function userIdFor(services: Services, email: string): Promise<string> {
  return (await userByEmail(services, email)).id;
}

/**
 * A password from `--password`, or from standard input with `--password-stdin` (one line; the
 * final newline is dropped), so it stays out of the shell history and the process list.
 */
export async function passwordFrom(
  ctx: CliContext,
  options: { password?: string; passwordStdin?: boolean },
): Promise<string> {
  if (options.password !== undefined && options.passwordStdin === true)
    throw new CliError('usage_error', 'give --password or --password-stdin, not both');
  if (options.password !== undefined) return options.password;
  if (options.passwordStdin !== true)
    throw new CliError('usage_error', 'give the password with --password-stdin (or --password)');
  if (ctx.readStdin === undefined)
    throw new CliError('usage_error', 'there is no standard input to read the password from');
  const text = (await ctx.readStdin()).replace(/\r?\n$/, '');
  if (text.includes('\n'))
    throw new CliError('usage_error', 'standard input must hold the password on one line');
  return text;
}
