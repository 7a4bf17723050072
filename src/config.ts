import { readFileSync } from 'node:fs';
import { ENVIRONMENT_PATTERN, KEY_PREFIX_PATTERN } from './core/api-key.ts';
import { addCalendarDuration, parseDurationMs } from './core/duration.ts';
import { normaliseIpAllowlist } from './core/key-settings.ts';
import { MAX_ACCEPTED_SHAPES, shapeProblem, splitShapes } from './core/key-shapes.ts';
import { type GatewayRoute, parseRoutesFile } from './gateway/routes-file.ts';
import { type GithubSigningKey, parseGithubKeys } from './leaks/github-keys.ts';

export type DatabaseConfig =
  | { kind: 'sqlite'; url: string; path: string }
  | { kind: 'postgres'; url: string };

export interface PlanConfig {
  name: string;
  /** Keys that are not revoked or expired; `null` = unlimited. */
  maxKeys: number | null;
}

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  /** True when PUBLIC_URL is https: cookies get `Secure` and the `__Host-` name. */
  secureCookies: boolean;
  database: DatabaseConfig;
  redisUrl: string | null;
  /** Prepended to every Redis key Keyward writes. */
  redisKeyPrefix: string;
  /** How cache invalidations reach other nodes (`auto` resolved: Redis, else PostgreSQL, else local). */
  invalidationBus: 'redis' | 'postgres' | 'sqlite' | 'local';
  /** While Redis is unreachable, rate limits and quotas admit requests (`open`) or answer 503. */
  rateLimitFailure: 'open' | 'closed';
  /** A Redis command with no reply within this many ms fails (answered as Redis being down). */
  redisCommandTimeoutMs: number;
  keyPrefix: string;
  /** ENVIRONMENTS: the environments a key may belong to; the first is the default. */
  environments: string[];
  /** ACCEPTED_KEY_SHAPES: regular expressions (sources, checked) for imported keys of other shapes. */
  acceptedKeyShapes: string[];
  trustedProxies: string[];
  maxKeyLifetime: string | null;
  sessionIdleTimeoutMs: number;
  sessionAbsoluteTimeoutMs: number;
  plans: PlanConfig[];
  defaultPlan: string;
  /** Who may create an account from the sign-in page: anyone, invitees only, or nobody. */
  signup: SignupMode;
  keyCacheSize: number;
  keyCacheTtlMs: number;
  usageFlushIntervalMs: number;
  requestLogRetentionMs: number;
  /** Audit entries older than this are deleted by the pruning job; null keeps them forever. */
  auditLogRetentionMs: number | null;
  /** Request-log entries kept per key per usage flush interval; usage counts stay exact. */
  requestLogMaxPerKey: number;
  bodyLimitBytes: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Which requests get an access line at `info` (http/access-log.ts, docs/METRICS.md#logs). */
  accessLog: 'all' | 'errors' | 'off';
  /** A request taking at least this long is logged even where ACCESS_LOG=errors skips its kind. */
  slowRequestMs: number;
  /** The Prometheus listener (docs/METRICS.md): null unless METRICS_PORT is set. */
  metrics: { port: number; host: string } | null;
  timeZone: string;
  argon2MemoryKib: number;
  /** argon2 hashes and verifications that may run at once, and how many may wait beyond those. */
  passwordHashConcurrency: number;
  passwordHashQueue: number;
  loginThrottle: { windowMs: number; perAccountIp: number; perAccount: number; perIp: number };
  /** Connection limits and timeouts of the HTTP server, and how `serve` shuts down. */
  http: {
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    shutdownDrainDelayMs: number;
    shutdownTimeoutMs: number;
  };
  /** Gateway mode (docs/GATEWAY.md): null unless GATEWAY_UPSTREAM and GATEWAY_ROUTES are set. */
  gateway: GatewayConfig | null;
  /** Outgoing mail (SMTP_URL, MAIL_FROM); null when not configured. */
  mail: MailConfig | null;
  /** The job runner and the scheduled events (docs/EVENTS.md#scheduled-events). */
  jobs: JobsConfig;
  /** GitHub's secret-scanning signing keys for POST /v1/leaks; empty when not configured. */
  githubSecretScanningKeys: GithubSigningKey[];
  /** Webhook delivery (docs/EVENTS.md). */
  webhooks: WebhookConfig;
  /**
   * SECRET_ENCRYPTION_KEY: the 32-byte key (as given, base64 or hex; checked here) that encrypts
   * webhook secrets at rest, or null (SQLite: a key file next to the database; PostgreSQL:
   * webhooks cannot be created).
   */
  secretEncryptionKey: string | null;
}

export interface WebhookConfig {
  /** WEBHOOK_ALLOW_PRIVATE: deliver to loopback, private and link-local addresses too. */
  allowPrivate: boolean;
  /** How often each node looks for new events and due deliveries without being woken. */
  pollIntervalMs: number;
  /** Deliveries claimed per query, and events fanned out per transaction. */
  batchSize: number;
  /** Attempts in flight at once on this node, in all. */
  concurrency: number;
  /** Attempts in flight at once on this node to one endpoint. */
  endpointConcurrency: number;
  /** An endpoint failing continuously for this long is disabled. */
  disableAfterMs: number;
  /** Endpoints per account (and deployment-wide endpoints in all). */
  maxEndpoints: number;
}

export interface JobsConfig {
  /** JOB_INTERVAL: how often the job runner ticks. */
  intervalMs: number;
  /** IDLE_KEY_DAYS: days unused after which key.idle fires; 0 = off. */
  idleKeyDays: number;
  /** IDLE_KEY_ACTION: also disable idle keys, or only tell. */
  idleKeyAction: 'notify' | 'disable';
}

export const SIGNUP_MODES = ['open', 'invite', 'closed'] as const;
export type SignupMode = (typeof SIGNUP_MODES)[number];

export interface GatewayConfig {
  /** The API the gateway forwards to, e.g. http://127.0.0.1:3000 (no path). */
  upstream: string;
  port: number;
  /** The upstream must send its headers, and then each body chunk, within this. */
  timeoutMs: number;
  routesFile: string;
  routes: GatewayRoute[];
}

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Every setting the environment (or CONFIG_FILE) may carry, with its default. */
export const SETTINGS = {
  PORT: '8080',
  HOST: '127.0.0.1',
  PUBLIC_URL: '',
  DATABASE_URL: 'sqlite:./data/keyward.db',
  REDIS_URL: '',
  REDIS_KEY_PREFIX: 'keyward:',
  INVALIDATION_BUS: 'auto',
  RATE_LIMIT_FAILURE: 'closed',
  REDIS_COMMAND_TIMEOUT_MS: '100',
  KEY_PREFIX: 'sk',
  ENVIRONMENTS: 'live,test',
  ACCEPTED_KEY_SHAPES: '',
  TRUSTED_PROXIES: '',
  MAX_KEY_LIFETIME: '',
  SESSION_IDLE_TIMEOUT: '12h',
  SESSION_ABSOLUTE_TIMEOUT: '7d',
  PLANS: 'free:10,pro:50,enterprise:unlimited',
  DEFAULT_PLAN: 'free',
  SIGNUP: 'open',
  KEY_CACHE_SIZE: '100000',
  KEY_CACHE_TTL: '5s',
  USAGE_FLUSH_INTERVAL: '1s',
  REQUEST_LOG_RETENTION: '30d',
  AUDIT_LOG_RETENTION: 'forever',
  REQUEST_LOG_MAX_PER_KEY: '100',
  BODY_LIMIT: '65536',
  LOG_LEVEL: 'info',
  ACCESS_LOG: 'errors',
  SLOW_REQUEST_MS: '500',
  METRICS_PORT: '',
  METRICS_HOST: '127.0.0.1',
  TIME_ZONE: 'UTC',
  ARGON2_MEMORY_KIB: '19456',
  PASSWORD_HASH_CONCURRENCY: '2',
  PASSWORD_HASH_QUEUE: '16',
  LOGIN_THROTTLE_WINDOW: '15m',
  LOGIN_MAX_FAILURES_PER_ACCOUNT_IP: '5',
  LOGIN_MAX_FAILURES_PER_ACCOUNT: '50',
  LOGIN_MAX_FAILURES_PER_IP: '30',
  REQUEST_TIMEOUT: '30s',
  HEADERS_TIMEOUT: '10s',
  KEEP_ALIVE_TIMEOUT: '72s',
  MAX_CONNECTIONS: '10000',
  SHUTDOWN_DRAIN_DELAY: '5s',
  SHUTDOWN_TIMEOUT: '25s',
  GATEWAY_UPSTREAM: '',
  GATEWAY_ROUTES: '',
  GATEWAY_PORT: '8081',
  GATEWAY_TIMEOUT: '60s',
  SMTP_URL: '',
  MAIL_FROM: '',
  JOB_INTERVAL: '1m',
  IDLE_KEY_DAYS: '0',
  IDLE_KEY_ACTION: 'notify',
  GITHUB_SECRET_SCANNING_KEYS: '',
  SECRET_ENCRYPTION_KEY: '',
  WEBHOOK_ALLOW_PRIVATE: 'false',
  WEBHOOK_POLL_INTERVAL: '1s',
  WEBHOOK_BATCH_SIZE: '100',
  WEBHOOK_CONCURRENCY: '64',
  WEBHOOK_ENDPOINT_CONCURRENCY: '8',
  WEBHOOK_DISABLE_AFTER: '5d',
  WEBHOOK_MAX_ENDPOINTS: '10',
} as const;

export type SettingName = keyof typeof SETTINGS;
type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MIN_ARGON2_MEMORY_KIB = 19456;

/**
 * Reads the settings from `env` (and the JSON file named by CONFIG_FILE, which the environment
 * overrides), checks them all, and returns one frozen Config or throws a ConfigError that lists
 * every problem at once.
 */
export function loadConfig(env: Env, readFile: (path: string) => string = readUtf8): Config {
  const problems: string[] = [];
  const fromFile = readConfigFile(env.CONFIG_FILE, readFile, problems);
  const get = (name: SettingName): string => {
    const value = env[name] ?? fromFile[name];
    return value === undefined || value === '' ? SETTINGS[name] : value.trim();
  };

  const int = (name: SettingName, min: number, max: number): number => {
    const text = get(name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${text}")`);
      return min;
    }
    return value;
  };
  const duration = (name: SettingName): number => {
    const ms = parseDurationMs(get(name));
    if (ms === null || ms <= 0) {
      problems.push(`${name} must be a duration such as 30s, 15m, 12h or 7d (got "${get(name)}")`);
      return 1000;
    }
    return ms;
  };
  const durationOrZero = (name: SettingName): number => {
    const ms = parseDurationMs(get(name));
    if (ms === null) {
      problems.push(`${name} must be a duration such as 0s, 5s or 1m (got "${get(name)}")`);
      return 0;
    }
    return ms;
  };

  const port = int('PORT', 0, 65535);
  const host = get('HOST');
  const publicUrlText = get('PUBLIC_URL') || `http://localhost:${port}`;
  let secureCookies = false;
  try {
    const url = new URL(publicUrlText);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    secureCookies = url.protocol === 'https:';
  } catch {
    problems.push(`PUBLIC_URL must be an http:// or https:// URL (got "${publicUrlText}")`);
  }

  const database = parseDatabaseUrl(get('DATABASE_URL'), problems);
  const redisUrl = get('REDIS_URL') || null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push('REDIS_URL must start with redis:// or rediss://');
  }
  const redisKeyPrefix = get('REDIS_KEY_PREFIX');
  if (!/^[A-Za-z0-9_:.-]{1,64}$/.test(redisKeyPrefix)) {
    problems.push('REDIS_KEY_PREFIX must be 1-64 letters, digits, _ : . or -');
  }

  const invalidationBus = resolveBus(get('INVALIDATION_BUS'), redisUrl, database, problems);
  const rateLimitFailure = get('RATE_LIMIT_FAILURE');
  if (rateLimitFailure !== 'open' && rateLimitFailure !== 'closed') {
    problems.push(`RATE_LIMIT_FAILURE must be open or closed (got "${rateLimitFailure}")`);
  }

  const keyPrefix = get('KEY_PREFIX');
  if (!KEY_PREFIX_PATTERN.test(keyPrefix)) {
    problems.push(
      `KEY_PREFIX must be 1-12 lowercase letters or digits, starting with a letter (got "${keyPrefix}")`,
    );
  }

  const environments = parseEnvironments(get('ENVIRONMENTS'), problems);
  const acceptedKeyShapes = splitShapes(get('ACCEPTED_KEY_SHAPES'));
  if (acceptedKeyShapes.length > MAX_ACCEPTED_SHAPES)
    problems.push(`ACCEPTED_KEY_SHAPES may list at most ${MAX_ACCEPTED_SHAPES} patterns`);
  for (const source of acceptedKeyShapes) {
    const problem = shapeProblem(source);
    if (problem !== null) problems.push(`ACCEPTED_KEY_SHAPES pattern "${source}" ${problem}`);
  }

  const trustedProxies = get('TRUSTED_PROXIES')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of trustedProxies) {
    if (!isAddressOrRange(entry)) {
      problems.push(`TRUSTED_PROXIES entry "${entry}" is not an IP address or CIDR range`);
    }
  }

  const maxKeyLifetime = get('MAX_KEY_LIFETIME') || null;
  if (maxKeyLifetime !== null && addCalendarDuration(0, maxKeyLifetime) === null) {
    problems.push(
      `MAX_KEY_LIFETIME must be a duration such as 90d, 6mo or 4y (got "${maxKeyLifetime}")`,
    );
  }

  const plans = parsePlans(get('PLANS'), problems);
  const defaultPlan = get('DEFAULT_PLAN');
  if (plans.length > 0 && !plans.some((plan) => plan.name === defaultPlan)) {
    problems.push(`DEFAULT_PLAN "${defaultPlan}" is not one of the PLANS`);
  }

  const signup = get('SIGNUP') as SignupMode;
  if (!SIGNUP_MODES.includes(signup)) {
    problems.push(`SIGNUP must be one of ${SIGNUP_MODES.join(', ')} (got "${signup}")`);
  }

  const logLevel = get('LOG_LEVEL') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }

  const accessLog = get('ACCESS_LOG');
  if (accessLog !== 'all' && accessLog !== 'errors' && accessLog !== 'off') {
    problems.push(`ACCESS_LOG must be all, errors or off (got "${accessLog}")`);
  }
  const metrics =
    get('METRICS_PORT') === ''
      ? null
      : { port: int('METRICS_PORT', 0, 65535), host: get('METRICS_HOST') };
  if (metrics !== null && metrics.port !== 0 && metrics.port === port)
    problems.push('METRICS_PORT must differ from PORT');

  const timeZone = get('TIME_ZONE');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    problems.push(
      `TIME_ZONE must be an IANA time zone such as UTC or Europe/Berlin (got "${timeZone}")`,
    );
  }

  const mail = parseMail(get('SMTP_URL'), get('MAIL_FROM'), problems);
  const auditRetentionText = get('AUDIT_LOG_RETENTION');
  let auditLogRetentionMs: number | null = null;
  if (auditRetentionText !== 'forever') {
    auditLogRetentionMs = parseDurationMs(auditRetentionText);
    if (auditLogRetentionMs === null || auditLogRetentionMs < 86_400_000) {
      problems.push(
        `AUDIT_LOG_RETENTION must be forever or a duration of at least a day, such as 90d, 365d or 104w (got "${auditRetentionText}")`,
      );
      auditLogRetentionMs = null;
    }
  }
  const idleKeyAction = get('IDLE_KEY_ACTION');
  if (idleKeyAction !== 'notify' && idleKeyAction !== 'disable') {
    problems.push(`IDLE_KEY_ACTION must be notify or disable (got "${idleKeyAction}")`);
  }
  const secretEncryptionKey = get('SECRET_ENCRYPTION_KEY') || null;
  if (secretEncryptionKey !== null && decodeEncryptionKey(secretEncryptionKey) === null) {
    problems.push(
      'SECRET_ENCRYPTION_KEY must be 32 random bytes, base64 (44 characters) or hex (64 characters); make one with `openssl rand -base64 32`',
    );
  }
  const allowPrivate = get('WEBHOOK_ALLOW_PRIVATE');
  if (allowPrivate !== 'true' && allowPrivate !== 'false') {
    problems.push(`WEBHOOK_ALLOW_PRIVATE must be true or false (got "${allowPrivate}")`);
  }
  const pollText = get('WEBHOOK_POLL_INTERVAL');
  const pollIntervalMs = /^\d{1,6}ms$/.test(pollText)
    ? Number(pollText.slice(0, -2))
    : parseDurationMs(pollText);
  if (pollIntervalMs === null || pollIntervalMs < 10 || pollIntervalMs > 60_000) {
    problems.push(
      `WEBHOOK_POLL_INTERVAL must be a duration from 10ms to 1m, such as 250ms or 1s (got "${pollText}")`,
    );
  }

  const config: Config = {
    port,
    mail,
    jobs: {
      intervalMs: duration('JOB_INTERVAL'),
      idleKeyDays: int('IDLE_KEY_DAYS', 0, 3650),
      idleKeyAction: idleKeyAction === 'disable' ? 'disable' : 'notify',
    },
    githubSecretScanningKeys: parseGithubKeysSetting(
      get('GITHUB_SECRET_SCANNING_KEYS'),
      readFile,
      problems,
    ),
    secretEncryptionKey,
    webhooks: {
      allowPrivate: allowPrivate === 'true',
      pollIntervalMs: pollIntervalMs ?? 1000,
      batchSize: int('WEBHOOK_BATCH_SIZE', 1, 1000),
      concurrency: int('WEBHOOK_CONCURRENCY', 1, 1024),
      endpointConcurrency: int('WEBHOOK_ENDPOINT_CONCURRENCY', 1, 64),
      disableAfterMs: duration('WEBHOOK_DISABLE_AFTER'),
      maxEndpoints: int('WEBHOOK_MAX_ENDPOINTS', 1, 1000),
    },
    host,
    publicUrl: publicUrlText.replace(/\/$/, ''),
    secureCookies,
    database,
    redisUrl,
    redisKeyPrefix,
    invalidationBus,
    rateLimitFailure: rateLimitFailure === 'open' ? 'open' : 'closed',
    redisCommandTimeoutMs: int('REDIS_COMMAND_TIMEOUT_MS', 1, 60_000),
    keyPrefix,
    environments,
    acceptedKeyShapes,
    trustedProxies,
    maxKeyLifetime,
    sessionIdleTimeoutMs: duration('SESSION_IDLE_TIMEOUT'),
    sessionAbsoluteTimeoutMs: duration('SESSION_ABSOLUTE_TIMEOUT'),
    plans,
    defaultPlan,
    signup,
    keyCacheSize: int('KEY_CACHE_SIZE', 0, 10_000_000),
    keyCacheTtlMs: duration('KEY_CACHE_TTL'),
    usageFlushIntervalMs: duration('USAGE_FLUSH_INTERVAL'),
    requestLogRetentionMs: duration('REQUEST_LOG_RETENTION'),
    auditLogRetentionMs,
    requestLogMaxPerKey: int('REQUEST_LOG_MAX_PER_KEY', 1, 1_000_000),
    bodyLimitBytes: int('BODY_LIMIT', 1024, 10 * 1024 * 1024),
    logLevel,
    accessLog: accessLog === 'all' || accessLog === 'off' ? accessLog : 'errors',
    slowRequestMs: int('SLOW_REQUEST_MS', 1, 3_600_000),
    metrics,
    timeZone,
    argon2MemoryKib: int('ARGON2_MEMORY_KIB', MIN_ARGON2_MEMORY_KIB, 4 * 1024 * 1024),
    passwordHashConcurrency: int('PASSWORD_HASH_CONCURRENCY', 1, 64),
    passwordHashQueue: int('PASSWORD_HASH_QUEUE', 0, 100_000),
    loginThrottle: {
      windowMs: duration('LOGIN_THROTTLE_WINDOW'),
      perAccountIp: int('LOGIN_MAX_FAILURES_PER_ACCOUNT_IP', 1, 1_000_000),
      perAccount: int('LOGIN_MAX_FAILURES_PER_ACCOUNT', 1, 1_000_000),
      perIp: int('LOGIN_MAX_FAILURES_PER_IP', 1, 1_000_000),
    },
    http: {
      requestTimeoutMs: duration('REQUEST_TIMEOUT'),
      headersTimeoutMs: duration('HEADERS_TIMEOUT'),
      keepAliveTimeoutMs: duration('KEEP_ALIVE_TIMEOUT'),
      maxConnections: int('MAX_CONNECTIONS', 1, 1_000_000),
      shutdownDrainDelayMs: durationOrZero('SHUTDOWN_DRAIN_DELAY'),
      shutdownTimeoutMs: duration('SHUTDOWN_TIMEOUT'),
    },
    gateway: parseGateway(
      {
        upstream: get('GATEWAY_UPSTREAM'),
        routesFile: get('GATEWAY_ROUTES'),
        port: int('GATEWAY_PORT', 0, 65535),
        timeoutMs: duration('GATEWAY_TIMEOUT'),
      },
      port,
      readFile,
      problems,
    ),
  };
  if (config.sessionIdleTimeoutMs > config.sessionAbsoluteTimeoutMs) {
    problems.push('SESSION_IDLE_TIMEOUT must not be longer than SESSION_ABSOLUTE_TIMEOUT');
  }
  if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
    // Node refuses it, and a request could never time out before its headers did.
    problems.push('HEADERS_TIMEOUT must not be longer than REQUEST_TIMEOUT');
  }
  if (
    config.metrics !== null &&
    config.gateway !== null &&
    config.metrics.port !== 0 &&
    config.metrics.port === config.gateway.port
  ) {
    problems.push('METRICS_PORT must differ from GATEWAY_PORT');
  }
  if (config.http.shutdownDrainDelayMs >= config.http.shutdownTimeoutMs) {
    problems.push('SHUTDOWN_DRAIN_DELAY must be shorter than SHUTDOWN_TIMEOUT');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function parseGateway(
  settings: { upstream: string; routesFile: string; port: number; timeoutMs: number },
  apiPort: number,
  readFile: (path: string) => string,
  problems: string[],
): GatewayConfig | null {
  const { upstream, routesFile, port, timeoutMs } = settings;
  if (upstream === '' && routesFile === '') return null;
  if (upstream === '' || routesFile === '') {
    problems.push(
      'gateway mode needs both GATEWAY_UPSTREAM (--upstream) and GATEWAY_ROUTES (--routes)',
    );
    return null;
  }
  let url: URL | null = null;
  try {
    url = new URL(upstream);
  } catch {}
  if (
    url === null ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.pathname !== '/' ||
    url.search !== '' ||
    url.username !== ''
  ) {
    problems.push(
      `GATEWAY_UPSTREAM must be an http:// or https:// origin without a path, e.g. http://127.0.0.1:3000 (got "${upstream}")`,
    );
  }
  if (port !== 0 && port === apiPort) problems.push('GATEWAY_PORT must differ from PORT');
  let text: string;
  try {
    text = readFile(routesFile);
  } catch (error) {
    problems.push(`GATEWAY_ROUTES "${routesFile}" could not be read: ${(error as Error).message}`);
    return null;
  }
  const parsed = parseRoutesFile(text);
  if (!parsed.ok) {
    for (const problem of parsed.problems)
      problems.push(`GATEWAY_ROUTES ${routesFile}: ${problem}`);
    return null;
  }
  return { upstream: url?.origin ?? upstream, port, timeoutMs, routesFile, routes: parsed.routes };
}

/** Inline JSON (starting with `{`) or the path of a file holding it, in GitHub's public-keys format. */
function parseGithubKeysSetting(
  value: string,
  readFile: (path: string) => string,
  problems: string[],
): GithubSigningKey[] {
  if (value === '') return [];
  let text = value;
  if (!value.startsWith('{')) {
    try {
      text = readFile(value);
    } catch (error) {
      problems.push(
        `GITHUB_SECRET_SCANNING_KEYS "${value}" could not be read: ${(error as Error).message}`,
      );
      return [];
    }
  }
  const parsed = parseGithubKeys(text);
  if (parsed.ok) return parsed.keys;
  for (const problem of parsed.problems) problems.push(`GITHUB_SECRET_SCANNING_KEYS ${problem}`);
  return [];
}

/** The 32 bytes of SECRET_ENCRYPTION_KEY (base64 or hex), or null when it is not such a key. */
export function decodeEncryptionKey(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text) || /^[A-Za-z0-9_-]{43}$/.test(text)) {
    const bytes = Buffer.from(
      text,
      text.includes('-') || text.includes('_') ? 'base64url' : 'base64',
    );
    if (bytes.length === 32) return bytes;
  }
  return null;
}

function readUtf8(path: string): string {
  return readFileSync(path, 'utf8');
}

function readConfigFile(
  path: string | undefined,
  readFile: (path: string) => string,
  problems: string[],
): Partial<Record<SettingName, string>> {
  if (path === undefined || path === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFile(path));
  } catch (error) {
    problems.push(`CONFIG_FILE "${path}" could not be read as JSON: ${(error as Error).message}`);
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push(`CONFIG_FILE "${path}" must hold a JSON object of settings`);
    return {};
  }
  const out: Partial<Record<SettingName, string>> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!(name in SETTINGS)) {
      problems.push(`CONFIG_FILE "${path}" has an unknown setting "${name}"`);
    } else if (typeof value !== 'string' && typeof value !== 'number') {
      problems.push(`CONFIG_FILE setting ${name} must be a string or a number`);
    } else {
      out[name as SettingName] = String(value);
    }
  }
  return out;
}

function parseDatabaseUrl(url: string, problems: string[]): DatabaseConfig {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (path === '')
      problems.push('DATABASE_URL sqlite: needs a file path, e.g. sqlite:./data/keyward.db');
    return { kind: 'sqlite', url, path };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      new URL(url);
    } catch {
      problems.push('DATABASE_URL is not a valid postgres:// URL');
    }
    return { kind: 'postgres', url };
  }
  problems.push('DATABASE_URL must start with sqlite: or postgres://');
  return { kind: 'sqlite', url, path: '' };
}

/** An IPv4/IPv6 address or CIDR range, read by the same strict parser as IP allowlists. */
function isAddressOrRange(entry: string): boolean {
  return normaliseIpAllowlist([entry]).ok;
}

function resolveBus(
  text: string,
  redisUrl: string | null,
  database: DatabaseConfig,
  problems: string[],
): Config['invalidationBus'] {
  switch (text) {
    case 'auto':
      if (redisUrl !== null) return 'redis';
      return database.kind === 'postgres' ? 'postgres' : 'sqlite';
    case 'redis':
      if (redisUrl === null) problems.push('INVALIDATION_BUS=redis needs REDIS_URL');
      return 'redis';
    case 'postgres':
      if (database.kind !== 'postgres') {
        problems.push('INVALIDATION_BUS=postgres needs a postgres:// DATABASE_URL');
      }
      return 'postgres';
    case 'sqlite':
      if (database.kind !== 'sqlite') {
        problems.push('INVALIDATION_BUS=sqlite needs a sqlite: DATABASE_URL');
      }
      return 'sqlite';
    case 'local':
      return 'local';
    default:
      problems.push(
        `INVALIDATION_BUS must be auto, redis, postgres, sqlite or local (got "${text}")`,
      );
      return 'local';
  }
}

function parseEnvironments(text: string, problems: string[]): string[] {
  const names = text.split(',').map((part) => part.trim());
  const out: string[] = [];
  for (const name of names) {
    if (!ENVIRONMENT_PATTERN.test(name)) {
      problems.push(
        `ENVIRONMENTS entry "${name}" must be 2-12 lowercase letters, e.g. live,test or dev,staging,prod`,
      );
    } else if (out.includes(name)) {
      problems.push(`ENVIRONMENTS lists "${name}" twice`);
    } else out.push(name);
  }
  if (out.length > 20) problems.push('ENVIRONMENTS may list at most 20 environments');
  return out.length === 0 ? ['live'] : out;
}

function parsePlans(text: string, problems: string[]): PlanConfig[] {
  const plans: PlanConfig[] = [];
  for (const part of text.split(',')) {
    const [name, limit] = part.trim().split(':');
    if (name === undefined || !/^[a-z][a-z0-9_-]{0,31}$/.test(name) || limit === undefined) {
      problems.push(`PLANS entry "${part.trim()}" must look like name:10 or name:unlimited`);
      continue;
    }
    if (limit === 'unlimited') plans.push({ name, maxKeys: null });
    else if (/^\d+$/.test(limit)) plans.push({ name, maxKeys: Number(limit) });
    else
      problems.push(
        `PLANS entry "${part.trim()}" has a limit that is neither a number nor "unlimited"`,
      );
  }
  return plans;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

export interface MailConfig {
  /** smtp:// or smtps:// URL, with credentials if the server needs them. */
  smtpUrl: string;
  /** The From header: an address, or `Name <address>`. */
  from: string;
}

function parseMail(smtpUrl: string, from: string, problems: string[]): MailConfig | null {
  if (smtpUrl === '' && from === '') return null;
  if (smtpUrl === '' || from === '') {
    problems.push('SMTP_URL and MAIL_FROM go together: set both to send mail, or neither');
    return null;
  }
  try {
    const url = new URL(smtpUrl);
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error('protocol');
  } catch {
    // The URL may carry a password: never echo it.
    problems.push('SMTP_URL must be an smtp:// or smtps:// URL, such as smtp://user:pass@host:587');
  }
  const address = /<([^<>\s]+)>\s*$/.exec(from)?.[1] ?? from;
  if (!/^[^@\s<>]+@[^@\s<>]+$/.test(address)) {
    problems.push(`MAIL_FROM must be an address or "Name <address>" (got "${from}")`);
  }
  return { smtpUrl, from };
}
