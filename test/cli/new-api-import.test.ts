import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR, DATABASES, type TestDatabase } from '../helpers/databases.ts';
import { alphanumeric, cli, openServices } from '../helpers/import.ts';

/**
 * new-api's tables as GORM's AutoMigrate creates them on SQLite from model/user.go and
 * model/token.go (QuantumNous/new-api): bool is numeric, int and int64 integer, string text,
 * gorm.DeletedAt datetime (soft delete).
 */
const SQLITE_SCHEMA = `
CREATE TABLE \`users\` (\`id\` integer PRIMARY KEY AUTOINCREMENT,\`username\` text UNIQUE,\`password\` text NOT NULL,\`display_name\` text,\`role\` integer DEFAULT 1,\`status\` integer DEFAULT 1,\`email\` text,\`github_id\` text,\`discord_id\` text,\`oidc_id\` text,\`wechat_id\` text,\`telegram_id\` text,\`access_token\` char(32),\`quota\` integer DEFAULT 0,\`used_quota\` integer DEFAULT 0,\`request_count\` integer DEFAULT 0,\`group\` varchar(64) DEFAULT 'default',\`aff_code\` varchar(32),\`aff_count\` integer DEFAULT 0,\`aff_quota\` integer DEFAULT 0,\`aff_history\` integer DEFAULT 0,\`inviter_id\` integer,\`deleted_at\` datetime,\`linux_do_id\` text,\`setting\` text,\`remark\` varchar(255),\`stripe_customer\` varchar(64),\`created_at\` integer,\`last_login_at\` integer DEFAULT 0);
CREATE UNIQUE INDEX \`idx_users_access_token\` ON \`users\`(\`access_token\`);
CREATE INDEX \`idx_users_deleted_at\` ON \`users\`(\`deleted_at\`);
CREATE INDEX \`idx_users_email\` ON \`users\`(\`email\`);
CREATE TABLE \`tokens\` (\`id\` integer PRIMARY KEY AUTOINCREMENT,\`user_id\` integer,\`key\` varchar(128),\`status\` integer DEFAULT 1,\`name\` text,\`created_time\` integer,\`accessed_time\` integer,\`expired_time\` integer DEFAULT -1,\`remain_quota\` integer DEFAULT 0,\`unlimited_quota\` numeric,\`model_limits_enabled\` numeric,\`model_limits\` text,\`allow_ips\` text DEFAULT '',\`used_quota\` integer DEFAULT 0,\`group\` text DEFAULT '',\`cross_group_retry\` numeric,\`billing_type\` integer DEFAULT 0,\`deleted_at\` datetime);
CREATE UNIQUE INDEX \`idx_tokens_key\` ON \`tokens\`(\`key\`);
CREATE INDEX \`idx_tokens_user_id\` ON \`tokens\`(\`user_id\`);
CREATE INDEX \`idx_tokens_name\` ON \`tokens\`(\`name\`);
CREATE INDEX \`idx_tokens_deleted_at\` ON \`tokens\`(\`deleted_at\`);
`;

/** The same tables as GORM creates them on PostgreSQL: boolean, bigint, timestamptz. */
const POSTGRES_SCHEMA = `
CREATE TABLE "users" ("id" bigserial PRIMARY KEY,"username" text UNIQUE,"password" text NOT NULL,"display_name" text,"role" bigint DEFAULT 1,"status" bigint DEFAULT 1,"email" text,"access_token" char(32) UNIQUE,"quota" bigint DEFAULT 0,"used_quota" bigint DEFAULT 0,"request_count" bigint DEFAULT 0,"group" varchar(64) DEFAULT 'default',"aff_code" varchar(32),"deleted_at" timestamptz,"setting" text,"created_at" bigint,"last_login_at" bigint DEFAULT 0);
CREATE TABLE "tokens" ("id" bigserial PRIMARY KEY,"user_id" bigint,"key" varchar(128) UNIQUE,"status" bigint DEFAULT 1,"name" text,"created_time" bigint,"accessed_time" bigint,"expired_time" bigint DEFAULT -1,"remain_quota" bigint DEFAULT 0,"unlimited_quota" boolean,"model_limits_enabled" boolean,"model_limits" text,"allow_ips" text DEFAULT '',"used_quota" bigint DEFAULT 0,"group" text DEFAULT '',"cross_group_retry" boolean,"billing_type" bigint DEFAULT 0,"deleted_at" timestamptz);
`;

const NOW_S = Math.floor(Date.now() / 1000);
const DAY_S = 86_400;

interface UserRow {
  id: number;
  username: string;
  email: string;
  status: number;
  deleted: boolean;
}
interface TokenRow {
  id: number;
  user_id: number;
  key: string;
  status: number;
  name: string;
  expired_time: number;
  remain_quota: number;
  unlimited_quota: boolean;
  model_limits_enabled: boolean;
  model_limits: string;
  allow_ips: string;
  deleted: boolean;
}

const USERS: UserRow[] = [
  { id: 1, username: 'root', email: 'Root@Example.com', status: 1, deleted: false },
  { id: 2, username: 'Alice_01', email: '', status: 1, deleted: false },
  { id: 3, username: 'banned', email: 'banned@example.com', status: 2, deleted: false },
  { id: 4, username: 'gone', email: 'gone@example.com', status: 1, deleted: true },
];

function token(id: number, userId: number, fields: Partial<TokenRow>): TokenRow {
  return {
    id,
    user_id: userId,
    key: alphanumeric(48),
    status: 1,
    name: `token ${id}`,
    expired_time: -1,
    remain_quota: 0,
    unlimited_quota: true,
    model_limits_enabled: false,
    model_limits: '',
    allow_ips: '',
    deleted: false,
    ...fields,
  };
}

/** One token per status and per mapped setting. */
const TOKENS: Record<string, TokenRow> = {
  unlimited: token(1, 1, { name: 'Main' }),
  quota: token(2, 2, { unlimited_quota: false, remain_quota: 1500 }),
  models: token(3, 1, { model_limits_enabled: true, model_limits: 'gpt-4o, claude-3,' }),
  ips: token(4, 1, { allow_ips: '10.0.0.0/8\n 192.168.1.7 ,\n' }),
  disabled: token(5, 1, { status: 2 }),
  expiredStatus: token(6, 1, { status: 3, expired_time: NOW_S - DAY_S }),
  expiredTime: token(7, 1, { status: 1, expired_time: NOW_S - 60 }),
  future: token(8, 1, { expired_time: NOW_S + 30 * DAY_S }),
  exhausted: token(9, 1, { status: 4, unlimited_quota: false, remain_quota: 0 }),
  deleted: token(10, 1, { deleted: true }),
  ofDeletedUser: token(11, 4, {}),
  ofBannedUser: token(12, 3, {}),
  noModel: token(13, 1, { model_limits_enabled: true, model_limits: '' }),
  badIp: token(14, 1, { allow_ips: 'not-an-address' }),
  unknownStatus: token(15, 1, { status: 9 }),
};

function fillSqlite(path: string): void {
  const db = new SQLite(path);
  db.exec(SQLITE_SCHEMA);
  const user = db.prepare(
    'insert into users (id, username, password, display_name, role, status, email, deleted_at, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  for (const u of USERS)
    user.run(
      u.id,
      u.username,
      '$2a$10$hash',
      u.username,
      u.id === 1 ? 100 : 1,
      u.status,
      u.email,
      u.deleted ? '2026-01-01 00:00:00' : null,
      NOW_S - 100 * DAY_S,
    );
  const insert = db.prepare(
    'insert into tokens (id, user_id, key, status, name, created_time, accessed_time, expired_time, remain_quota, unlimited_quota, model_limits_enabled, model_limits, allow_ips, used_quota, "group", deleted_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  for (const t of Object.values(TOKENS))
    insert.run(
      t.id,
      t.user_id,
      t.key,
      t.status,
      t.name,
      NOW_S - 10 * DAY_S,
      t.id === 1 ? NOW_S - DAY_S : 0,
      t.expired_time,
      t.remain_quota,
      t.unlimited_quota ? 1 : 0,
      t.model_limits_enabled ? 1 : 0,
      t.model_limits,
      t.allow_ips,
      250,
      t.id === 1 ? 'vip' : '',
      t.deleted ? '2026-01-01 00:00:00' : null,
    );
  db.close();
}

async function fillPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(POSTGRES_SCHEMA);
    for (const u of USERS)
      await client.query(
        'insert into users (id, username, password, status, email, deleted_at) values ($1, $2, $3, $4, $5, $6)',
        [u.id, u.username, 'x', u.status, u.email, u.deleted ? new Date() : null],
      );
    for (const t of Object.values(TOKENS))
      await client.query(
        'insert into tokens (id, user_id, key, status, name, created_time, accessed_time, expired_time, remain_quota, unlimited_quota, model_limits_enabled, model_limits, allow_ips, deleted_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)',
        [
          t.id,
          t.user_id,
          t.key,
          t.status,
          t.name,
          NOW_S - 10 * DAY_S,
          0,
          t.expired_time,
          t.remain_quota,
          t.unlimited_quota,
          t.model_limits_enabled,
          t.model_limits,
          t.allow_ips,
          t.deleted ? new Date() : null,
        ],
      );
  } finally {
    await client.end();
  }
}

const SHAPE = '^sk-[A-Za-z0-9]{48}$';

describe.each(DATABASES)('keyward import new-api into $name', (kind) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const dir = join(ARTIFACTS_DIR, `new-api-${randomBytes(4).toString('hex')}`);
  const source = join(dir, 'one-api.db');

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    fillSqlite(source);
    database = await kind.create();
    env = { DATABASE_URL: database.config.url, LOG_LEVEL: 'silent', ACCEPTED_KEY_SHAPES: SHAPE };
    await cli(env).run('migrate');
  });
  afterAll(async () => {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("migrates every status, and the keys verify unchanged with new-api's sk- prefix", async () => {
    const { run, err } = cli(env);
    const summary = await run('import', 'new-api', '--database', source);
    expect(summary).toContain('new-api: 4 users, 15 tokens read');
    expect(summary).toContain('imported 11 keys, skipped 0 already present, created 3 accounts');
    expect(summary).toContain('left out 1: deleted in new-api');
    expect(summary).toContain('left out 1: its user is deleted or missing');
    expect(summary).toContain(
      'left out 1: allow_ips entry "not-an-address" is not an IP address or CIDR range',
    );
    expect(summary).toContain('left out 1: unknown status 9');
    expect(summary).toContain('note 1: model limits enabled with no model: imported disabled');
    expect(err.filter((line) => line.startsWith('imported'))).toHaveLength(1);
    for (const t of Object.values(TOKENS)) expect(`${summary}${err}`).not.toContain(t.key);

    const opened = await openServices(env);
    try {
      const verify = (t: TokenRow, extra: { ip?: string; resource?: string; cost?: number } = {}) =>
        Promise.resolve(
          opened.services.verify.verify({ key: `sk-${t.key}`, ip: extra.ip ?? null, ...extra }),
        );
      expect((await verify(TOKENS.unlimited as TokenRow)).code).toBe('VALID');
      const quota = await verify(TOKENS.quota as TokenRow, { cost: 500 });
      expect(quota.code).toBe('VALID');
      expect(quota.creditsRemaining).toBe(1000);
      expect((await verify(TOKENS.quota as TokenRow, { cost: 1001 })).code).toBe(
        'INSUFFICIENT_CREDITS',
      );
      expect((await verify(TOKENS.models as TokenRow, { resource: 'gpt-4o' })).code).toBe('VALID');
      expect((await verify(TOKENS.models as TokenRow, { resource: 'gpt-3.5' })).code).toBe(
        'FORBIDDEN',
      );
      expect((await verify(TOKENS.ips as TokenRow, { ip: '10.1.2.3' })).code).toBe('VALID');
      expect((await verify(TOKENS.ips as TokenRow, { ip: '192.168.1.7' })).code).toBe('VALID');
      expect((await verify(TOKENS.ips as TokenRow, { ip: '192.168.1.8' })).code).toBe(
        'IP_NOT_ALLOWED',
      );
      expect((await verify(TOKENS.disabled as TokenRow)).code).toBe('DISABLED');
      expect((await verify(TOKENS.expiredStatus as TokenRow)).code).toBe('EXPIRED');
      expect((await verify(TOKENS.expiredTime as TokenRow)).code).toBe('EXPIRED');
      expect((await verify(TOKENS.future as TokenRow)).code).toBe('VALID');
      expect((await verify(TOKENS.exhausted as TokenRow)).code).toBe('INSUFFICIENT_CREDITS');
      expect((await verify(TOKENS.ofBannedUser as TokenRow)).code).toBe('DISABLED');
      expect((await verify(TOKENS.noModel as TokenRow)).code).toBe('DISABLED');
      for (const t of [TOKENS.deleted, TOKENS.ofDeletedUser, TOKENS.badIp, TOKENS.unknownStatus])
        expect((await verify(t as TokenRow)).code).toBe('NOT_FOUND');
      // new-api accepts the bare key too; Keyward only the shape it shows (sk-…).
      const bare = opened.services.verify.verify({
        key: (TOKENS.unlimited as TokenRow).key,
        ip: null,
      });
      expect((await bare).code).toBe('NOT_FOUND');

      const root = await opened.services.accounts.findByEmail('root@example.com');
      expect(root?.role).toBe('user');
      const alice = await opened.services.accounts.findByEmail('alice_01@new-api.invalid');
      expect(alice).toBeDefined();
      const main = await opened.store.db
        .selectFrom('api_keys')
        .selectAll()
        .where('name', '=', 'Main')
        .executeTakeFirstOrThrow();
      expect(main.owner_id).toBe(root?.id);
      expect(main.start).toBe(`sk-${(TOKENS.unlimited as TokenRow).key.slice(0, 4)}`);
      expect(JSON.parse(main.metadata)).toEqual({
        new_api: { token_id: 1, user_id: 1, used_quota: 250, group: 'vip' },
      });
      expect(main.last_used_at).toBe((NOW_S - DAY_S) * 1000);
      expect(main.created_at).toBe((NOW_S - 10 * DAY_S) * 1000);
    } finally {
      await opened.close();
    }

    expect(await run('import', 'new-api', '--database', `sqlite:${source}`)).toContain(
      'imported 0 keys, skipped 11 already present, created 0 accounts',
    );
  });

  // Defined on the PostgreSQL pass only (a skipped test would read as PostgreSQL missing in CI).
  if (kind.name === 'postgres')
    it('reads a PostgreSQL source as well', async () => {
      const pgSource = await kind.create();
      try {
        await fillPostgres(pgSource.config.url);
        const fresh = await kind.create();
        try {
          const { run } = cli({ ...env, DATABASE_URL: fresh.config.url });
          await run('migrate');
          const summary = await run('import', 'new-api', '--database', pgSource.config.url);
          expect(summary).toContain('new-api: 4 users, 15 tokens read');
          expect(summary).toContain('imported 11 keys');
          const opened = await openServices({ ...env, DATABASE_URL: fresh.config.url });
          try {
            const result = await opened.services.verify.verify({
              key: `sk-${(TOKENS.quota as TokenRow).key}`,
              ip: null,
            });
            expect(result.code).toBe('VALID');
            expect(result.creditsRemaining).toBe(1499);
          } finally {
            await opened.close();
          }
        } finally {
          await fresh.drop();
        }
      } finally {
        await pgSource.drop();
      }
    });

  it('refuses without the accepted shape, a MySQL source, or a database that is not new-api', async () => {
    const bare = cli({ DATABASE_URL: database.config.url, LOG_LEVEL: 'silent' });
    await expect(bare.run('import', 'new-api', '--database', source)).rejects.toThrow(
      /ACCEPTED_KEY_SHAPES='\^sk-\[A-Za-z0-9\]\{48\}\$'/,
    );
    const { run } = cli(env);
    await expect(
      run('import', 'new-api', '--database', 'mysql://root@127.0.0.1:3306/newapi'),
    ).rejects.toThrow(/MySQL sources are not supported/);
    await expect(
      run('import', 'new-api', '--database', 'root:@tcp(127.0.0.1:3306)/newapi'),
    ).rejects.toThrow(/MySQL sources are not supported/);
    await expect(run('import', 'new-api', '--database', join(dir, 'nothing.db'))).rejects.toThrow(
      /no SQLite database at/,
    );
    const other = join(dir, 'other.db');
    const db = new SQLite(other);
    db.exec('create table tokens (id integer primary key); create table users (id integer)');
    db.close();
    await expect(run('import', 'new-api', '--database', other)).rejects.toThrow(
      /not a new-api \/ one-api database: missing tokens.user_id/,
    );
  });
});
