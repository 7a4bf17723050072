import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { EMAIL_PATTERN, normaliseEmail } from '../core/email.ts';
import { MAX_NAME_LENGTH, normaliseIpAllowlist } from '../core/key-settings.ts';
import { checkImportItems } from '../http/import-items.ts';
import type { Services } from '../services/index.ts';
import { type ImportItem, MAX_IMPORT_BATCH } from '../services/key-import.ts';
import { ImportProgress, importBatch } from './import-batches.ts';

/**
 * Reads new-api's (QuantumNous/new-api, a fork of songquanpeng/one-api) `tokens` and `users`
 * tables and imports the tokens as Keyward keys that verify unchanged. The columns read, and how
 * each maps, are listed in docs/MIGRATING.md; the constants below are new-api's own
 * (common/constants.go, model/token.go).
 */

/** The shape new-api shows its keys in: `sk-` + the 48 letters and digits it stores. */
export const NEW_API_KEY_SHAPE = '^sk-[A-Za-z0-9]{48}$';
export const NEW_API_DEFAULT_EMAIL_DOMAIN = 'new-api.invalid';

const TOKEN_ENABLED = 1;
const TOKEN_DISABLED = 2;
const TOKEN_EXPIRED = 3;
const TOKEN_EXHAUSTED = 4;
const USER_DISABLED = 2;
/** `expired_time` of a token that never expires. */
const NEVER = -1;

const TOKEN_COLUMNS = [
  'id',
  'user_id',
  'key',
  'status',
  'name',
  'created_time',
  'accessed_time',
  'expired_time',
  'remain_quota',
  'unlimited_quota',
] as const;
const OPTIONAL_TOKEN_COLUMNS = [
  'model_limits_enabled',
  'model_limits',
  'allow_ips',
  'used_quota',
  'group',
  'deleted_at',
] as const;
const USER_COLUMNS = ['id', 'username'] as const;
const OPTIONAL_USER_COLUMNS = ['email', 'status', 'deleted_at'] as const;

type Row = Record<string, unknown>;

interface Source {
  columns(table: string): Promise<Set<string>>;
  /** Rows of `select … from table where id > after order by id limit n`. */
  page(table: string, columns: string[], after: number, limit: number): Promise<Row[]>;
  close(): Promise<void>;
}

function quoted(columns: string[]): string {
  return columns.map((column) => `"${column}"`).join(', ');
}

function sqliteSource(path: string): Source {
  if (!existsSync(path)) throw new Error(`no SQLite database at ${path}`);
  const db = new SQLite(path, { readonly: true, fileMustExist: true });
  return {
    async columns(table) {
      const rows = db.prepare(`pragma table_info("${table}")`).all() as { name: string }[];
      return new Set(rows.map((row) => row.name));
    },
    async page(table, columns, after, limit) {
      return db
        .prepare(`select ${quoted(columns)} from "${table}" where id > ? order by id limit ?`)
        .all(after, limit) as Row[];
    },
    async close() {
      db.close();
    },
  };
}

async function postgresSource(url: string): Promise<Source> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  return {
    async columns(table) {
      const result = await client.query<{ column_name: string }>(
        'select column_name from information_schema.columns where table_schema = current_schema() and table_name = $1',
        [table],
      );
      return new Set(result.rows.map((row) => row.column_name));
    },
    async page(table, columns, after, limit) {
      const result = await client.query<Row>(
        `select ${quoted(columns)} from "${table}" where id > $1 order by id limit $2`,
        [after, limit],
      );
      return result.rows;
    },
    async close() {
      await client.end();
    },
  };
}

/** Opens `--database`: a SQLite path or URL, or PostgreSQL; MySQL is refused with what to do. */
async function openSource(database: string): Promise<Source> {
  if (/^postgres(ql)?:\/\//.test(database)) return postgresSource(database);
  if (/^mysql:\/\//.test(database) || /@tcp\(/.test(database))
    throw new Error(
      "MySQL sources are not supported: Keyward carries no MySQL driver. Copy new-api's tokens and users tables into SQLite or PostgreSQL (for example with pgloader or mysqldump + sqlite3) and pass that database; see docs/MIGRATING.md",
    );
  if (database.startsWith('file:')) return sqliteSource(fileURLToPath(database));
  return sqliteSource(database.replace(/^sqlite:(\/\/)?/, ''));
}

function flag(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}

function int(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A second-resolution Unix time as RFC 3339, or undefined for 0 / missing / the future. */
function instant(seconds: number, now: number): string | undefined {
  if (seconds <= 0 || seconds * 1000 > now) return undefined;
  return new Date(seconds * 1000).toISOString();
}

interface NewApiUser {
  email: string;
  disabled: boolean;
}

/** The Keyward account of a new-api user: its email, else username@domain, else user-ID@domain. */
function ownerEmail(row: Row, domain: string): string {
  const email = normaliseEmail(text(row.email));
  if (email !== '' && EMAIL_PATTERN.test(email)) return email;
  const username = text(row.username)
    .toLowerCase()
    .replace(/[^a-z0-9._+-]/g, '');
  return `${username === '' ? `user-${int(row.id)}` : username}@${domain}`;
}

/** new-api's token.GetIpLimits: spaces removed, one entry a line, commas dropped. */
function ipLimits(raw: unknown): string[] {
  return text(raw)
    .replaceAll(' ', '')
    .split('\n')
    .map((entry) => entry.trim().replaceAll(',', ''))
    .filter((entry) => entry !== '');
}

type Mapped = { item: ImportItem; note?: string } | { skip: string };

/** One token as an import item, or why it is left out. */
function mapToken(row: Row, owner: NewApiUser, now: number): Mapped {
  const status = int(row.status);
  if (![TOKEN_ENABLED, TOKEN_DISABLED, TOKEN_EXPIRED, TOKEN_EXHAUSTED].includes(status))
    return { skip: `unknown status ${status}` };
  const id = int(row.id);
  const name = text(row.name).trim().slice(0, MAX_NAME_LENGTH) || `new-api token ${id}`;
  const unlimited = flag(row.unlimited_quota);
  const item: ImportItem = {
    key: `sk-${text(row.key)}`,
    owner_email: owner.email,
    name,
    enabled: status !== TOKEN_DISABLED && !owner.disabled,
    metadata: {
      new_api: {
        token_id: id,
        user_id: int(row.user_id),
        used_quota: int(row.used_quota),
        ...(text(row.group) !== '' && { group: text(row.group) }),
      },
    },
  };
  const expired = int(row.expired_time);
  if (status === TOKEN_EXPIRED)
    item.expires_at = new Date(
      expired === NEVER ? now : Math.min(expired * 1000, now),
    ).toISOString();
  else if (expired !== NEVER) item.expires_at = new Date(Math.max(expired, 0) * 1000).toISOString();
  if (status === TOKEN_EXHAUSTED) item.credits = { remaining: 0 };
  else if (!unlimited) item.credits = { remaining: Math.max(0, int(row.remain_quota)) };
  const created = instant(int(row.created_time), now);
  if (created !== undefined) item.created_at = created;
  const accessed = instant(int(row.accessed_time), now);
  if (accessed !== undefined) item.last_used_at = accessed;

  let note: string | undefined;
  if (flag(row.model_limits_enabled)) {
    const models = [
      ...new Set(
        text(row.model_limits)
          .split(',')
          .map((model) => model.trim())
          .filter((model) => model !== ''),
      ),
    ];
    if (models.length === 0) {
      // new-api then allows no model at all; an empty allowed_resources would allow every one.
      item.enabled = false;
      note = 'model limits enabled with no model: imported disabled';
    } else item.allowed_resources = models;
  }
  const ips = ipLimits(row.allow_ips);
  if (ips.length > 0) {
    const checked = normaliseIpAllowlist(ips);
    // Dropping an entry could leave the list empty, which allows every address.
    if (!checked.ok)
      return { skip: `allow_ips entry "${checked.bad}" is not an IP address or CIDR range` };
    item.ip_allowlist = checked.entries;
  }
  return note === undefined ? { item } : { item, note };
}

/**
 * Runs the import and returns the summary lines; `progress` gets a line per batch (stderr).
 * Tokens that cannot be imported are counted by reason and left out; nothing in new-api changes.
 */
export async function importNewApi(
  services: Services,
  options: { database: string; emailDomain: string },
  progressLine: (line: string) => void,
): Promise<string[]> {
  if (!services.keyImport.accepts(`sk-${'aZ0'.repeat(16)}`))
    throw new Error(
      `new-api keys (sk- and 48 letters or digits) are not accepted by this deployment: set ACCEPTED_KEY_SHAPES='${NEW_API_KEY_SHAPE}' for this command and for the servers (docs/CONFIGURATION.md), then run it again`,
    );
  const domain = options.emailDomain.trim().toLowerCase();
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain))
    throw new Error(`--email-domain must be a domain name such as example.com (got "${domain}")`);
  const source = await openSource(options.database);
  try {
    const tokenColumns = await source.columns('tokens');
    const userColumns = await source.columns('users');
    const missing = [
      ...TOKEN_COLUMNS.filter((c) => !tokenColumns.has(c)).map((c) => `tokens.${c}`),
      ...USER_COLUMNS.filter((c) => !userColumns.has(c)).map((c) => `users.${c}`),
    ];
    if (missing.length > 0)
      throw new Error(`this is not a new-api / one-api database: missing ${missing.join(', ')}`);

    const users = new Map<number, NewApiUser | null>();
    const userSelect = [
      ...USER_COLUMNS,
      ...OPTIONAL_USER_COLUMNS.filter((c) => userColumns.has(c)),
    ];
    for (let after = 0; ; ) {
      const rows = await source.page('users', userSelect, after, 5000);
      if (rows.length === 0) break;
      for (const row of rows) {
        const deleted = row.deleted_at !== undefined && row.deleted_at !== null;
        users.set(
          int(row.id),
          deleted
            ? null
            : { email: ownerEmail(row, domain), disabled: int(row.status) === USER_DISABLED },
        );
      }
      after = int(rows.at(-1)?.id);
    }

    const now = services.clock.now();
    const progress = new ImportProgress();
    const skipped = new Map<string, number>();
    const notes = new Map<string, number>();
    const count = (map: Map<string, number>, reason: string) =>
      map.set(reason, (map.get(reason) ?? 0) + 1);
    let read = 0;
    const tokenSelect = [
      ...TOKEN_COLUMNS,
      ...OPTIONAL_TOKEN_COLUMNS.filter((c) => tokenColumns.has(c)),
    ];
    let batch: ImportItem[] = [];
    let ids: number[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const batchIds = ids;
      await importBatch(services, batch, progress, (index) => `token ${batchIds[index]}`);
      progressLine(progress.line());
      batch = [];
      ids = [];
    };
    for (let after = 0; ; ) {
      const rows = await source.page('tokens', tokenSelect, after, MAX_IMPORT_BATCH);
      if (rows.length === 0) break;
      after = int(rows.at(-1)?.id);
      for (const row of rows) {
        read += 1;
        if (row.deleted_at !== undefined && row.deleted_at !== null) {
          count(skipped, 'deleted in new-api');
          continue;
        }
        const owner = users.get(int(row.user_id));
        if (owner === undefined || owner === null) {
          count(skipped, 'its user is deleted or missing');
          continue;
        }
        const mapped = mapToken(row, owner, now);
        if ('skip' in mapped) {
          count(skipped, mapped.skip);
          continue;
        }
        if (!services.keyImport.accepts(mapped.item.key as string)) {
          count(skipped, 'key of another shape (add a pattern to ACCEPTED_KEY_SHAPES)');
          continue;
        }
        const checked = checkImportItems([mapped.item]);
        if (!checked.ok) {
          count(skipped, checked.errors[0]?.message ?? 'refused');
          continue;
        }
        if (mapped.note !== undefined) count(notes, mapped.note);
        batch.push(mapped.item);
        ids.push(int(row.id));
        if (batch.length === MAX_IMPORT_BATCH) await flush();
      }
    }
    await flush();

    const lines = [
      `new-api: ${users.size} users, ${read} tokens read`,
      `imported ${progress.imported} keys, skipped ${progress.skipped} already present, created ${progress.ownersCreated} accounts in ${progress.seconds.toFixed(1)} s`,
    ];
    for (const [reason, n] of skipped) lines.push(`left out ${n}: ${reason}`);
    for (const [note, n] of notes) lines.push(`note ${n}: ${note}`);
    lines.push(
      'Accounts created here have no usable password; see docs/MIGRATING.md. Keep ACCEPTED_KEY_SHAPES set on every server so these keys verify.',
    );
    return lines;
  } finally {
    await source.close();
  }
}
