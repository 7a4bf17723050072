import type { FastifyBaseLogger } from 'fastify';
import { FanOutTransport } from '../cache/fan-out-transport.ts';
import {
  DistributedInvalidationBus,
  type InvalidationBus,
  LocalInvalidationBus,
  SqliteChangeBus,
} from '../cache/invalidation-bus.ts';
import { PostgresBusTransport } from '../cache/postgres-transport.ts';
import { RecordCache } from '../cache/record-cache.ts';
import { RedisBusTransport } from '../cache/redis-transport.ts';
import type { Config } from '../config.ts';
import { apiKeyShapeChecker } from '../core/api-key.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { keyShapeChecker } from '../core/key-shapes.ts';
import { MailWorker } from '../events/mail-worker.ts';
import { NotificationSettings } from '../events/notifications.ts';
import { ScheduledEvents } from '../events/scheduled.ts';
import { JobRunner } from '../jobs/runner.ts';
import { LeakReports } from '../leaks/leak-reports.ts';
import type { Limiter } from '../limits/limiter.ts';
import { MemoryLimiter } from '../limits/memory-limiter.ts';
import { RedisLimiter } from '../limits/redis-limiter.ts';
import { createLogger } from '../logger.ts';
import type { Store } from '../storage/database.ts';
import { AccountService } from './accounts.ts';
import { AttemptCounter } from './attempt-counter.ts';
import { pruneAudit } from './audit.ts';
import { BillingService } from './billing.ts';
import { CredentialInvalidator } from './credential-invalidator.ts';
import { InvitationService } from './invitations.ts';
import { KeyImportService } from './key-import.ts';
import { KeyService } from './keys.ts';
import { LoginThrottle } from './login-throttle.ts';
import { createMailer, type Mailer } from './mailer.ts';
import { PasswordResetService } from './password-resets.ts';
import { HashGate, PasswordHasher } from './passwords.ts';
import { SessionService } from './sessions.ts';
import { type CachedToken, TokenService } from './tokens.ts';
import { UsageRecorder } from './usage-recorder.ts';
import { type CachedKey, VerifyService } from './verify.ts';

export interface Services {
  config: Config;
  store: Store;
  clock: Clock;
  accounts: AccountService;
  sessions: SessionService;
  invitations: InvitationService;
  passwordResets: PasswordResetService;
  keys: KeyService;
  keyImport: KeyImportService;
  tokens: TokenService;
  verify: VerifyService;
  usage: UsageRecorder;
  billing: BillingService;
  bus: InvalidationBus;
  /** The job runner (JOB_INTERVAL): pruning, scheduled events, the mailer. */
  jobs: JobRunner;
  scheduled: ScheduledEvents;
  mailWorker: MailWorker;
  notifications: NotificationSettings;
  leaks: LeakReports;
  /**
   * The state of what a node can run without but serves worse without, for /readyz: Redis (the
   * limiter; keys with limits answer as RATE_LIMIT_FAILURE says) and the invalidation bus (the
   * caches are bypassed). Only the parts this deployment uses are listed.
   */
  dependencies(): Promise<Record<string, 'ok' | 'unavailable'>>;
  /** Starts background work (usage flushes, jobs); `stop()` ends it and flushes what is pending. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * How often expired sessions, old request-log and audit entries (REQUEST_LOG_RETENTION,
 * AUDIT_LOG_RETENTION) and stale reservations are deleted.
 */
const PRUNE_INTERVAL_MS = 10 * 60_000;

/** "Forgot password?" requests answered per client address and per email, per hour. */
const RESET_REQUESTS_PER_IP = 10;
const RESET_REQUESTS_PER_EMAIL = 3;
const RESET_REQUEST_WINDOW_MS = 3_600_000;

/** Negative entries get a smaller share so a flood of made-up keys cannot push out real ones. */
const NEGATIVE_CACHE_SHARE = 0.1;

/** The transport that carries invalidations to the other nodes, as configured. */
function createBus(config: Config, store: Store): InvalidationBus {
  if (config.invalidationBus === 'redis' && config.redisUrl !== null) {
    const redis = new RedisBusTransport(config.redisUrl, config.redisKeyPrefix);
    // On PostgreSQL, LISTEN/NOTIFY carries every message too, so the bus outlives a Redis outage.
    return new DistributedInvalidationBus(
      config.database.kind === 'postgres'
        ? new FanOutTransport([redis, new PostgresBusTransport(config.database.url)])
        : redis,
    );
  }
  if (config.invalidationBus === 'postgres' && config.database.kind === 'postgres') {
    return new DistributedInvalidationBus(new PostgresBusTransport(config.database.url));
  }
  if (config.invalidationBus === 'sqlite' && store.dataVersion !== null) {
    return new SqliteChangeBus(store.dataVersion);
  }
  return new LocalInvalidationBus();
}

/** The composition root of the domain: one place that wires every service to its ports. */
export function createServices(
  config: Config,
  store: Store,
  options: {
    clock?: Clock;
    bus?: InvalidationBus;
    limiter?: Limiter;
    /** Replaces the mailer made from SMTP_URL / MAIL_FROM (null: no mail). */
    mailer?: Mailer | null;
    /** Where the mailer and the jobs report failures; silent when absent (one-shot CLI commands). */
    logger?: FastifyBaseLogger;
    /** Where background failures (a reset mail that could not be sent) are reported. */
    onError?: (error: unknown, context: string) => void;
  } = {},
): Services {
  const clock = options.clock ?? systemClock;
  const bus = options.bus ?? createBus(config, store);
  const db = store.db;
  // The fresh TTL bounds how stale a record can be when a change can escape the bus.
  const ttlMs = bus.seesEveryChange ? Number.POSITIVE_INFINITY : config.keyCacheTtlMs;
  const cacheOptions = { maxSize: config.keyCacheSize, ttlMs, clock };
  const keyCache = new RecordCache<CachedKey>(cacheOptions);
  const tokenCache = new RecordCache<CachedToken>(cacheOptions);
  const missOptions = {
    ...cacheOptions,
    maxSize: Math.ceil(config.keyCacheSize * NEGATIVE_CACHE_SHARE),
  };
  const missCache = new RecordCache<null>(missOptions);
  const tokenMissCache = new RecordCache<null>(missOptions);
  const caches = [keyCache, missCache, tokenCache, tokenMissCache];
  bus.subscribe((message) => {
    if (message.kind === 'key') {
      keyCache.delete(message.hash);
      missCache.delete(message.hash);
    } else if (message.kind === 'token') {
      tokenCache.delete(message.hash);
      tokenMissCache.delete(message.hash);
    } else if (message.kind === 'reset') {
      for (const cache of caches) cache.clear();
    } else {
      const online = message.kind === 'online';
      for (const cache of caches) cache.setEnabled(online);
    }
  });
  const limiter: Limiter =
    options.limiter ??
    (config.redisUrl === null
      ? new MemoryLimiter()
      : new RedisLimiter({
          url: config.redisUrl,
          prefix: config.redisKeyPrefix,
          failOpen: config.rateLimitFailure === 'open',
          commandTimeoutMs: config.redisCommandTimeoutMs,
        }));
  const usage = new UsageRecorder({
    db,
    health: store.health,
    clock,
    timeZone: config.timeZone,
    logRetentionMs: config.requestLogRetentionMs,
    logMaxPerKey: config.requestLogMaxPerKey,
  });
  const invalidator = new CredentialInvalidator(db, bus);
  const sessions = new SessionService({
    db,
    clock,
    idleMs: config.sessionIdleTimeoutMs,
    absoluteMs: config.sessionAbsoluteTimeoutMs,
  });
  const accounts = new AccountService({
    db,
    config,
    clock,
    hasher: new PasswordHasher(
      config.argon2MemoryKib,
      new HashGate({
        concurrency: config.passwordHashConcurrency,
        queue: config.passwordHashQueue,
      }),
    ),
    sessions,
    throttle: new LoginThrottle(config.loginThrottle, clock),
    invalidator,
    usage,
    calendar: usage.calendar,
  });
  const mailer =
    options.mailer !== undefined
      ? options.mailer
      : createMailer(config.mail, options.logger ?? createLogger('silent'));
  // Invalid invitation and reset links count against the address like failed logins do.
  const linkFailures = new AttemptCounter({
    limit: config.loginThrottle.perIp,
    windowMs: config.loginThrottle.windowMs,
    clock,
  });
  const invitations = new InvitationService({
    db,
    config,
    clock,
    accounts,
    sessions,
    failures: linkFailures,
    mailer,
  });
  const passwordResets = new PasswordResetService({
    db,
    config,
    clock,
    accounts,
    sessions,
    failures: linkFailures,
    requestsPerIp: new AttemptCounter({
      limit: RESET_REQUESTS_PER_IP,
      windowMs: RESET_REQUEST_WINDOW_MS,
      clock,
    }),
    requestsPerEmail: new AttemptCounter({
      limit: RESET_REQUESTS_PER_EMAIL,
      windowMs: RESET_REQUEST_WINDOW_MS,
      clock,
    }),
    mailer,
    onMailError: (error) => options.onError?.(error, 'password-reset mail'),
  });
  const keys = new KeyService({
    db,
    dialect: store.dialect,
    config,
    clock,
    usage,
    invalidator,
    limiter,
  });
  const tokens = new TokenService({
    db,
    readDb: store.readDb,
    clock,
    cache: {
      get: (hash) => tokenCache.get(hash) ?? tokenMissCache.get(hash),
      set: (hash, entry) =>
        entry === null ? tokenMissCache.set(hash, null) : tokenCache.set(hash, entry),
    },
    invalidator,
    usage,
  });
  const isOwnShape = apiKeyShapeChecker(config.keyPrefix, config.environments);
  const isKeyShape = keyShapeChecker(isOwnShape, config.acceptedKeyShapes);
  const keyImport = new KeyImportService({
    db,
    config,
    clock,
    usage,
    invalidator,
    hasher: accounts.hasher,
    isKeyShape,
    isOwnShape,
  });
  const verify = new VerifyService({
    db,
    readDb: store.readDb,
    clock,
    cache: {
      get: (hash) => keyCache.get(hash) ?? missCache.get(hash),
      set: (hash, entry) =>
        entry === null ? missCache.set(hash, null) : keyCache.set(hash, entry),
    },
    usage,
    limiter,
    isKeyShape,
  });
  const billing = new BillingService({ db, dialect: store.dialect, clock, usage });
  const logger = options.logger;
  const jobs = new JobRunner({
    clock,
    log: {
      failed: (job, error) =>
        logger?.error(
          { job, err: { message: (error as Error)?.message ?? String(error) } },
          'job failed',
        ),
    },
  });
  const scheduled = new ScheduledEvents({
    db,
    clock,
    calendar: usage.calendar,
    idle: { days: config.jobs.idleKeyDays, action: config.jobs.idleKeyAction },
    disableIdleKey: (id, since, data) => keys.disableIdle(id, since, data),
  });
  const mailWorker = new MailWorker({
    db,
    dialect: store.dialect,
    clock,
    mailer,
    dashboardUrl: config.publicUrl,
    log: {
      gaveUp: (type, attempts) =>
        logger?.error({ event_type: type, attempts }, 'mail given up after repeated failures'),
    },
  });
  const notifications = new NotificationSettings({
    db,
    clock,
    mailConfigured: config.mail !== null,
  });
  // One tick runs these in order; pruning keeps its own cadence.
  jobs.add({ name: 'prune.sessions', everyMs: PRUNE_INTERVAL_MS, run: () => sessions.prune() });
  jobs.add({ name: 'prune.request-log', everyMs: PRUNE_INTERVAL_MS, run: () => usage.prune() });
  jobs.add({ name: 'prune.reservations', everyMs: PRUNE_INTERVAL_MS, run: () => billing.prune() });
  jobs.add({
    name: 'prune.password-resets',
    everyMs: PRUNE_INTERVAL_MS,
    run: () => passwordResets.prune(),
  });
  jobs.add({
    name: 'prune.audit-log',
    everyMs: PRUNE_INTERVAL_MS,
    run: () => pruneAudit(db, clock.now(), config.auditLogRetentionMs).then(() => {}),
  });
  jobs.add({ name: 'key.expiring', run: () => scheduled.expiring().then(() => {}) });
  jobs.add({ name: 'key.expired', run: () => scheduled.expired().then(() => {}) });
  jobs.add({ name: 'key.idle', run: () => scheduled.idleKeys().then(() => {}) });
  jobs.add({
    name: 'usage.threshold',
    run: async () => {
      await scheduled.usageThresholds();
      await scheduled.creditThresholds();
    },
  });
  jobs.add({ name: 'credits.refilled', run: () => scheduled.creditRefills().then(() => {}) });
  jobs.add({ name: 'mail', run: () => mailWorker.run().then(() => {}) });
  return {
    config,
    store,
    clock,
    billing,
    accounts,
    sessions,
    invitations,
    passwordResets,
    keys,
    keyImport,
    tokens,
    verify,
    usage,
    bus,
    jobs,
    scheduled,
    mailWorker,
    notifications,
    leaks: new LeakReports({ keys, keyPrefix: config.keyPrefix }),
    async dependencies() {
      const checks: Record<string, 'ok' | 'unavailable'> = {};
      if (limiter.available !== undefined)
        checks.redis = (await limiter.available()) ? 'ok' : 'unavailable';
      if (bus.receiving !== undefined)
        checks.invalidation_bus = bus.receiving ? 'ok' : 'unavailable';
      return checks;
    },
    async start() {
      await bus.start?.();
      usage.start(config.usageFlushIntervalMs);
      jobs.start(config.jobs.intervalMs);
    },
    async stop() {
      await jobs.stop();
      await passwordResets.idle();
      mailer?.close();
      await usage.stop();
      await limiter.close();
      await bus.close();
    },
  };
}
