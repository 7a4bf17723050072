import { Writable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { type Config, loadConfig } from '../../src/config.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { type App, buildApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/logger.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { openStore } from '../../src/storage/database.ts';
import { migrateToLatest } from '../../src/storage/migrations.ts';
import type { Resolver } from '../../src/webhooks/ssrf.ts';
import type { DatabaseKind, TestDatabase } from './databases.ts';
import { dropRedisPrefix } from './redis.ts';

/** Everything any test sent or received that must never reach storage or logs in plain text. */
export const SECRETS_SEEN = new Set<string>();

export interface Harness {
  app: App;
  services: Services;
  config: Config;
  clock: ManualClock;
  database: TestDatabase;
  /** Every log line the app wrote, as JSON text. */
  logs: string[];
  request(options: RequestOptions): Promise<LightMyRequestResponse>;
  signup(email?: string, password?: string): Promise<Account>;
  close(): Promise<void>;
}

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Sends the session cookie and (for writes) the CSRF token of this account. */
  as?: Account;
  /** Sends `Authorization: Bearer <token>`. */
  bearer?: string;
  ip?: string;
}

export interface Account {
  id: string;
  email: string;
  password: string;
  cookie: string;
  csrf: string;
}

let counter = 0;
export function uniqueEmail(tag = 'user'): string {
  counter += 1;
  return `${tag}-${process.pid}-${counter}-${Date.now()}@example.com`;
}

/** Builds the real app over a fresh database of the given kind, with a manual clock. */
export async function createHarness(
  kind: DatabaseKind,
  env: Record<string, string> = {},
  options: { resolver?: Resolver } = {},
): Promise<Harness> {
  const database = await kind.create();
  const config = loadConfig({ DATABASE_URL: database.config.url, LOG_LEVEL: 'info', ...env });
  const store = openStore(config.database);
  await migrateToLatest(store.db, store.dialect);
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const services = createServices(config, store, {
    clock,
    logger,
    ...(options.resolver !== undefined && { resolver: options.resolver }),
  });
  const app = await buildApp(services, { logger });

  const request = async (options: RequestOptions) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.as !== undefined) {
      headers.cookie = options.as.cookie;
      if (options.method !== 'GET') headers['x-csrf-token'] ??= options.as.csrf;
    }
    if (options.bearer !== undefined) {
      headers.authorization = `Bearer ${options.bearer}`;
      SECRETS_SEEN.add(options.bearer);
    }
    const response = await app.inject({
      method: options.method,
      url: options.url,
      headers,
      remoteAddress: options.ip ?? '127.0.0.1',
      ...(options.body !== undefined && { payload: options.body as object }),
    });
    const text = response.body;
    for (const match of text.matchAll(/"(?:key|token)":"([^"]+)"/g))
      if (match[1]) SECRETS_SEEN.add(match[1]);
    return response;
  };

  const signup = async (
    email = uniqueEmail(),
    password = `pw-${Math.random().toString(36).slice(2)}-long`,
  ): Promise<Account> => {
    SECRETS_SEEN.add(password);
    const response = await request({
      method: 'POST',
      url: '/v1/auth/signup',
      body: { email, password },
    });
    if (response.statusCode !== 201)
      throw new Error(`signup failed: ${response.statusCode} ${response.body}`);
    const cookie = sessionCookie(response);
    const body = response.json() as { user: { id: string }; csrf_token: string };
    return { id: body.user.id, email, password, cookie, csrf: body.csrf_token };
  };

  return {
    app,
    services,
    config,
    clock,
    database,
    logs,
    request,
    signup,
    async close() {
      await app.close();
      await services.stop();
      await store.close();
      await database.drop();
      if (config.redisUrl !== null) await dropRedisPrefix(config.redisKeyPrefix);
    },
  };
}

/** `name=value` of the session cookie a response set; records the id as a secret. */
export function sessionCookie(response: LightMyRequestResponse): string {
  const cookie = response.cookies.find((c) => c.name.endsWith('keyward_session'));
  if (cookie === undefined) throw new Error('no session cookie in the response');
  SECRETS_SEEN.add(cookie.value);
  return `${cookie.name}=${cookie.value}`;
}

/** Creates a key through the API and returns its id and secret. */
export async function createKey(
  h: Harness,
  as: Account,
  body: Record<string, unknown> = {},
): Promise<{ id: string; key: string; json: Record<string, unknown> }> {
  const response = await h.request({
    method: 'POST',
    url: '/v1/keys',
    as,
    body: { name: 'test key', ...body },
  });
  if (response.statusCode !== 201)
    throw new Error(`create key failed: ${response.statusCode} ${response.body}`);
  const json = response.json() as { id: string; key: string };
  return { id: json.id, key: json.key, json };
}

/** Makes an account an admin directly through the service layer (what the CLI does). */
export async function promoteToAdmin(h: Harness, account: Account): Promise<void> {
  await h.services.store.db
    .updateTable('users')
    .set({ role: 'admin' })
    .where('id', '=', account.id)
    .execute();
}

/** A `keys:verify` service token, made by a new admin account, as the API provider's servers hold. */
export async function verifierToken(h: Harness): Promise<string> {
  const admin = await h.signup();
  await promoteToAdmin(h, admin);
  const token = await h.request({
    method: 'POST',
    url: '/v1/tokens',
    as: admin,
    body: { name: 'verifier', scopes: ['keys:verify'] },
  });
  return token.json().token;
}
