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
import { Metrics } from '../metrics.ts';
import type { Store } from '../storage/database.ts';
import { buildCommit, VERSION } from '../version.ts';
import { WebhookEngine } from '../webhooks/engine.ts';
import { secretBoxLoader } from '../webhooks/secret-box.ts';
import { WebhookService } from '../webhooks/service.ts';
import { type Resolver, systemResolver } from '../webhooks/ssrf.ts';
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
  /** The Prometheus registry (served when METRICS_PORT is set); other modules add gauges to it. */
  metrics: Metrics;
  /** Webhook endpoints and their delivery log (the API side). */
  webhooks: WebhookService;
  /** Webhook fan-out and delivery on this node; `pendingDeliveries()` is the backlog gauge. */
  webhookEngine: WebhookEngine;
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
    metrics?: Metrics;
    /** Replaces the mailer made from SMTP_URL / MAIL_FROM (null: no mail). */
    mailer?: Mailer | null;
    /** Where the mailer and the jobs report failures; silent when absent (one-shot CLI commands). */
    logger?: FastifyBaseLogger;
    /** Where background failures (a reset mail that could not be sent) are reported. */
    onError?: (error: unknown, context: string) => void;
    /** How webhook host names are resolved; tests inject one to simulate DNS answers. */
    resolver?: Resolver;
  } = {},
): Services {
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? new Metrics({ enabled: config.metrics !== null });
  const flushDuration = metrics.histogram({
    name: 'keyward_usage_flush_duration_seconds',
    help: 'How long each usage flush took (one transaction writing counts, rollups and the request log)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
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
    onFlush: (seconds) => flushDuration.observe(seconds),
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
  const log = options.logger ?? createLogger('silent');
  const secrets = secretBoxLoader(config);
  const resolver = options.resolver ?? systemResolver;
  const webhookEngine = new WebhookEngine({
    db,
    dialect: store.dialect,
    clock,
    config: config.webhooks,
    secrets,
    resolver,
    mailer,
    log,
    publicUrl: config.publicUrl,
  });
  const webhooks = new WebhookService({
    db,
    clock,
    config: config.webhooks,
    secrets,
    resolver,
    wake: () => webhookEngine.wake(),
  });
  const keys = new KeyService({
    db,
    dialect: store.dialect,
    config,
    clock,
    usage,
    invalidator,
    onEvents: () => webhookEngine.wake(),
    limiter,
  });
  const tokens = new TokenService({
    db,
    readDb: store.readDb,
    clock,
    cache: {
      get: (hash) => tokenCache.get(hash) ?? tokenMissCache.get(hash),
      // The two caches are invalidated together: the records' count tells for both.
      version: () => tokenCache.version,
      set: (hash, entry, version) => {
        if (version !== tokenCache.version) return;
        if (entry === null) tokenMissCache.set(hash, null);
        else tokenCache.set(hash, entry);
      },
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
      // The two caches are invalidated together: the records' count tells for both.
      version: () => keyCache.version,
      set: (hash, entry, version) => {
        if (version !== keyCache.version) return;
        if (entry === null) missCache.set(hash, null);
        else keyCache.set(hash, entry);
      },
    },
    usage,
    limiter,
    isKeyShape,
  });
  registerMetrics(metrics, {
    config,
    store,
    bus,
    limiter,
    usage,
    caches: { keyCache, missCache, tokenCache, tokenMissCache },
  });
  // After registerMetrics: a scrape reads the pool's gauges before these queries take a connection.
  metrics.queriedGauge({
    name: 'keyward_webhook_pending_deliveries',
    help: 'Webhook deliveries waiting for an attempt (due now or retrying later), on all nodes',
    read: () => webhookEngine.pendingDeliveries(),
  });
  metrics.queriedGauge({
    name: 'keyward_webhook_undispatched_events',
    help: 'Events in the outbox not yet fanned out to webhook endpoints',
    read: () => webhookEngine.undispatchedEvents(),
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
    metrics,
    webhooks,
    webhookEngine,
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
      webhookEngine.start();
    },
    async stop() {
      await jobs.stop();
      await webhookEngine.stop();
      await passwordResets.idle();
      mailer?.close();
      await usage.stop();
      await limiter.close();
      await bus.close();
    },
  };
}

/**
 * The metrics of the services, all read when Prometheus scrapes (docs/METRICS.md lists them):
 * what happens per request is counted by plain increments where it happens (the caches, the
 * limiter, the bus), never here.
 */
function registerMetrics(
  metrics: Metrics,
  parts: {
    config: Config;
    store: Store;
    bus: InvalidationBus;
    limiter: Limiter;
    usage: UsageRecorder;
    caches: {
      keyCache: RecordCache<CachedKey>;
      missCache: RecordCache<null>;
      tokenCache: RecordCache<CachedToken>;
      tokenMissCache: RecordCache<null>;
    };
  },
): void {
  const { config, store, bus, limiter, usage } = parts;
  const { keyCache, missCache, tokenCache, tokenMissCache } = parts.caches;
  metrics.gauge({
    name: 'keyward_build_info',
    help: 'Always 1; the labels name the running release and commit',
    labelNames: ['version', 'commit'],
    read: () => [[{ version: VERSION, commit: buildCommit() ?? 'unknown' }, 1]],
  });
  // A lookup tries the records first, then the hashes known not to exist: a miss of both is a
  // database read.
  metrics.counter({
    name: 'keyward_cache_lookups_total',
    help: 'Key and token cache lookups: hit (a record), negative_hit (known not to exist) or miss (read from the database)',
    labelNames: ['cache', 'result'],
    read: () => [
      [{ cache: 'key', result: 'hit' }, keyCache.hits],
      [{ cache: 'key', result: 'negative_hit' }, missCache.hits],
      [{ cache: 'key', result: 'miss' }, missCache.misses],
      [{ cache: 'token', result: 'hit' }, tokenCache.hits],
      [{ cache: 'token', result: 'negative_hit' }, tokenMissCache.hits],
      [{ cache: 'token', result: 'miss' }, tokenMissCache.misses],
    ],
  });
  metrics.gauge({
    name: 'keyward_cache_entries',
    help: 'Entries held by each cache (KEY_CACHE_SIZE bounds the record caches)',
    labelNames: ['cache'],
    read: () => [
      [{ cache: 'key' }, keyCache.size],
      [{ cache: 'key_negative' }, missCache.size],
      [{ cache: 'token' }, tokenCache.size],
      [{ cache: 'token_negative' }, tokenMissCache.size],
    ],
  });
  metrics.gauge({
    name: 'keyward_usage_flush_lag_seconds',
    help: 'Age of the oldest usage count not yet written: below USAGE_FLUSH_INTERVAL while flushes succeed',
    read: () => usage.flushLagMs / 1000,
  });
  metrics.counter({
    name: 'keyward_usage_flush_failures_total',
    help: 'Usage flushes that failed (what they held is kept for the next one)',
    read: () => usage.failedFlushCount,
  });
  metrics.gauge({
    name: 'keyward_usage_pending',
    help: 'Usage not yet written: requests counted, keys they belong to, request-log entries',
    labelNames: ['what'],
    read: () => {
      const pending = usage.pending;
      return [
        [{ what: 'requests' }, pending.requests],
        [{ what: 'keys' }, pending.keys],
        [{ what: 'log_entries' }, usage.pendingLogEntries],
      ];
    },
  });
  metrics.counter({
    name: 'keyward_usage_log_dropped_total',
    help: 'Request-log entries dropped because the database was unreachable too long (usage counts stay exact)',
    read: () => usage.droppedLogEntries,
  });
  metrics.gauge({
    name: 'keyward_invalidation_bus_connected',
    help: 'Whether cache invalidations from other nodes are arriving (1) or not (0: caches bypassed); always 1 for the sqlite and local buses',
    labelNames: ['bus'],
    read: () => [[{ bus: config.invalidationBus }, bus.receiving === false ? 0 : 1]],
  });
  metrics.counter({
    name: 'keyward_invalidation_bus_messages_total',
    help: 'Invalidations sent to other nodes and received from them (sqlite bus: commits by other processes noticed)',
    labelNames: ['direction'],
    read: () => [
      [{ direction: 'sent' }, bus.stats.sent],
      [{ direction: 'received' }, bus.stats.received],
    ],
  });
  metrics.counter({
    name: 'keyward_invalidation_bus_disconnects_total',
    help: 'Times the bus lost its connection to the other nodes',
    read: () => bus.stats.disconnects,
  });
  metrics.counter({
    name: 'keyward_limiter_errors_total',
    help: 'Rate-limit and quota calls that failed because Redis did not answer (answered per RATE_LIMIT_FAILURE)',
    read: () => limiter.errors ?? 0,
  });
  const pool = store.pool;
  if (pool !== null) {
    metrics.gauge({
      name: 'keyward_db_pool_connections',
      help: 'PostgreSQL pool connections: open (total) and idle among them',
      labelNames: ['state'],
      read: () => {
        const state = pool();
        return [
          [{ state: 'total' }, state.total],
          [{ state: 'idle' }, state.idle],
        ];
      },
    });
    metrics.gauge({
      name: 'keyward_db_pool_waiting',
      help: 'Queries waiting for a PostgreSQL pool connection',
      read: () => pool().waiting,
    });
  }
}
