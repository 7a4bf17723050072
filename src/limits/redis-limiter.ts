import type { Redis } from 'ioredis';
import { AppError } from '../core/errors.ts';
import type {
  LimitDecision,
  Limiter,
  LimitRequest,
  QuotaRule,
  RateRule,
  RateState,
} from './limiter.ts';
import { createRedisClient, whenReady } from './redis-client.ts';

/**
 * One script does the whole check-and-charge, so it is atomic across every node that shares the
 * Redis server: the key's rules and, for an owner with limits of its own, the owner's, in one
 * step. It mirrors MemoryLimiter exactly (GCRA per rate rule, see gcra.ts; a counter per quota
 * period seeded from the durable history), using the caller's `now` so all backends share one
 * notion of time.
 *
 * KEYS: the rate keys (the key's, then the owner's), then the quota keys (the key's, then the
 * owner's).
 * ARGV: mode ("consume" | "release"), now, cost, rate count, how many of the rate rules are the
 * key's, how many of the quotas are the key's, then limit and window per rate rule, then per
 * quota: request limit (-1 = none), amount limit (-1 = none), reset time, used requests, used
 * amount (both -1 = not given: a missing counter is then reported, not started).
 * Reply: { allowed (1/0), code (1 rate, 2 quota, 3 a quota counter is missing and nothing was
 * charged), retry-after ms, scope of the refusal (0 key, 1 owner), remaining and reset ms per
 * rate rule }. Times are stored with %.17g so no precision is lost in the round trip through a
 * string.
 */
const SCRIPT = `
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local nrate = tonumber(ARGV[4])
local nratekey = tonumber(ARGV[5])
local nquotakey = tonumber(ARGV[6])
local eps = 1e-6
local function fmt(x) return string.format('%.17g', x) end
local function units(backlog, interval, limit, window)
  local u = math.floor((window - backlog + eps) / interval)
  if u < 0 then return 0 end
  if u > limit then return limit end
  return u
end
local function rule(i)
  local base = 7 + (i - 1) * 2
  return tonumber(ARGV[base]), tonumber(ARGV[base + 1])
end
local function quota(j)
  local base = 7 + nrate * 2 + (j - 1) * 5
  return tonumber(ARGV[base]), tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]),
    ARGV[base + 3], ARGV[base + 4]
end
local nquota = #KEYS - nrate

if mode == 'release' then
  for i = 1, nrate do
    local limit, window = rule(i)
    local tat = tonumber(redis.call('GET', KEYS[i]))
    if tat then
      local back = tat - cost * window / limit
      if back < now then back = now end
      redis.call('SET', KEYS[i], fmt(back), 'PX', math.ceil(back - now) + 1000)
    end
  end
  for j = 1, nquota do
    local key = KEYS[nrate + j]
    if redis.call('EXISTS', key) == 1 then
      if tonumber(redis.call('HINCRBY', key, 'r', -1)) < 0 then redis.call('HSET', key, 'r', 0) end
      if tonumber(redis.call('HINCRBYFLOAT', key, 'a', -cost)) < 0 then redis.call('HSET', key, 'a', 0) end
    end
  end
  return 1
end

local reply = { 1, 0, 0, 0 }
local tats = {}
local retry = -1
local scope = -1
for i = 1, nrate do
  local limit, window = rule(i)
  local interval = window / limit
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if not tat or tat < now then tat = now end
  tats[i] = tat
  local nxt = tat + cost * interval
  if nxt - now <= window + eps then
    reply[#reply + 1] = units(nxt - now, interval, limit, window)
    reply[#reply + 1] = math.ceil(nxt - now)
  else
    local wait = math.ceil(nxt - window - now)
    if cost > limit then wait = window end
    if wait > retry then retry = wait end
    if scope < 0 then
      if i <= nratekey then scope = 0 else scope = 1 end
    end
    reply[#reply + 1] = units(tat - now, interval, limit, window)
    reply[#reply + 1] = math.ceil(tat - now)
  end
end
local code = 1
if retry < 0 then
  code = 2
  for j = 1, nquota do
    local key = KEYS[nrate + j]
    if tonumber(ARGV[7 + nrate * 2 + (j - 1) * 5 + 3]) < 0 and redis.call('EXISTS', key) == 0 then
      if j <= nquotakey then return { 0, 3, 0, 0 } end
      return { 0, 3, 0, 1 }
    end
  end
  for j = 1, nquota do
    local key = KEYS[nrate + j]
    local maxr, maxa, reset, usedr, useda = quota(j)
    local r = tonumber(redis.call('HGET', key, 'r'))
    local a = tonumber(redis.call('HGET', key, 'a'))
    if not r then
      redis.call('HSET', key, 'r', usedr, 'a', useda)
      -- Relative to the caller's clock, like every other time here; kept a day past the reset.
      redis.call('PEXPIRE', key, math.max(0, reset - now) + 86400000)
      r = tonumber(usedr)
      a = tonumber(useda)
    end
    if (maxr >= 0 and r + 1 > maxr) or (maxa >= 0 and a + cost > maxa) then
      local wait = reset - now
      if wait < 0 then wait = 0 end
      if wait > retry then retry = wait end
      if scope < 0 then
        if j <= nquotakey then scope = 0 else scope = 1 end
      end
    end
  end
end
if retry >= 0 then
  reply[1] = 0
  reply[2] = code
  reply[3] = math.ceil(retry)
  reply[4] = scope
  -- A refusal charges nothing: report the rules as they stand.
  for i = 1, nrate do
    local limit, window = rule(i)
    reply[3 + i * 2] = units(tats[i] - now, window / limit, limit, window)
    reply[4 + i * 2] = math.ceil(tats[i] - now)
  end
  return reply
end
for i = 1, nrate do
  local limit, window = rule(i)
  local nxt = tats[i] + cost * window / limit
  redis.call('SET', KEYS[i], fmt(nxt), 'PX', math.ceil(nxt - now) + 1000)
end
for j = 1, nquota do
  local key = KEYS[nrate + j]
  redis.call('HINCRBY', key, 'r', 1)
  redis.call('HINCRBYFLOAT', key, 'a', cost)
end
return reply
`;

type Reply = number[];

/** REDIS_COMMAND_TIMEOUT_MS's default (src/config.ts). */
const DEFAULT_COMMAND_TIMEOUT_MS = 100;

interface LimitsCommand {
  keywardLimits(numKeys: number, ...args: (string | number)[]): Promise<Reply>;
}

export interface RedisLimiterOptions {
  url: string;
  /** Prepended to every key Keyward writes, so several deployments (or test runs) can share a server. */
  prefix?: string;
  /**
   * While Redis cannot be reached: admit requests without rate limits and quotas (true), or
   * answer 503 (false, the default). Credits live in the database and are never affected.
   */
  failOpen?: boolean;
  /**
   * How long a call waits for a reply from a connected Redis before it counts as Redis being
   * down; while the connection is known to be down, calls fail at once.
   */
  commandTimeoutMs?: number;
}

/**
 * The shared limiter for many nodes: every `consume` is one EVALSHA of one Lua script (ioredis
 * loads it and falls back to EVAL), pipelined automatically with concurrent calls.
 */
export class RedisLimiter implements Limiter {
  readonly redis: Redis;
  private readonly prefix: string;
  private readonly failOpen: boolean;
  /**
   * Until the first connection is up (or its attempt timed out), calls wait for it: the commands
   * of a just-started process would otherwise fail before Redis had a chance to answer.
   */
  private firstConnection: Promise<void> | null;

  constructor(options: RedisLimiterOptions) {
    this.prefix = options.prefix ?? 'keyward:';
    this.failOpen = options.failOpen ?? false;
    this.redis = createRedisClient(options.url, {
      commandTimeoutMs: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    });
    this.redis.defineCommand('keywardLimits', { lua: SCRIPT });
    this.firstConnection = whenReady(this.redis).then(() => {
      this.firstConnection = null;
    });
  }

  async consume(request: LimitRequest): Promise<LimitDecision> {
    const reply = await this.run('consume', request);
    if (reply === null) return { allowed: true, rate: [] };
    const scope = reply[3] === 1 ? 'owner' : 'key';
    if (reply[1] === 3) return { allowed: false, code: 'QUOTA_UNSEEDED', scope, rate: [] };
    const rate: RateState[] = [];
    for (let i = 0; i < request.rate.length; i++) {
      const rule = request.rate[i] as RateRule;
      rate.push({
        limit: rule.limit,
        windowMs: rule.windowMs,
        remaining: reply[4 + i * 2] as number,
        resetMs: reply[5 + i * 2] as number,
      });
    }
    const owner = request.owner ?? null;
    if (owner !== null) {
      const first = 4 + request.rate.length * 2;
      for (let i = 0; i < owner.rate.length; i++) {
        const rule = owner.rate[i] as RateRule;
        rate.push({
          limit: rule.limit,
          windowMs: rule.windowMs,
          remaining: reply[first + i * 2] as number,
          resetMs: reply[first + 1 + i * 2] as number,
          owner: true,
        });
      }
    }
    if (reply[0] === 1) return { allowed: true, rate };
    return {
      allowed: false,
      code: reply[1] === 1 ? 'RATE_LIMITED' : 'QUOTA_EXCEEDED',
      scope,
      retryAfterMs: reply[2] as number,
      rate,
    };
  }

  /** Whether Redis answers a PING within the command timeout. */
  async available(): Promise<boolean> {
    try {
      if (this.firstConnection !== null) await this.firstConnection;
      await this.redis.ping();
      return true;
    } catch {
      return false;
    }
  }

  async release(request: LimitRequest): Promise<void> {
    await this.run('release', request);
  }

  async close(): Promise<void> {
    if (this.redis.status === 'end') return;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /**
   * The script's reply; null when Redis is unreachable and the limiter fails open. A key's
   * entries share the hash tag `{key id}`, an owner's `{owner id}`.
   */
  private async run(mode: 'consume' | 'release', request: LimitRequest): Promise<Reply | null> {
    const { keyId, now, cost, rate, quotas } = request;
    const owner = request.owner ?? null;
    const tag = `${this.prefix}{${keyId}}`;
    const ownerTag = owner === null ? '' : `${this.prefix}{${owner.ownerId}}`;
    const keys: string[] = [];
    const args: (string | number)[] = [
      mode,
      now,
      cost,
      rate.length + (owner === null ? 0 : owner.rate.length),
      rate.length,
      quotas.length,
    ];
    for (const rule of rate) {
      keys.push(`${tag}:r:${rule.limit}/${rule.windowMs}`);
      args.push(rule.limit, rule.windowMs);
    }
    if (owner !== null) {
      for (const rule of owner.rate) {
        keys.push(`${ownerTag}:r:${rule.limit}/${rule.windowMs}`);
        args.push(rule.limit, rule.windowMs);
      }
    }
    for (const quota of quotas) pushQuota(keys, args, tag, quota);
    if (owner !== null) for (const quota of owner.quotas) pushQuota(keys, args, ownerTag, quota);
    try {
      if (this.firstConnection !== null) await this.firstConnection;
      return await (this.redis as unknown as LimitsCommand).keywardLimits(
        keys.length,
        ...keys,
        ...args,
      );
    } catch {
      if (this.failOpen) return null;
      throw new AppError(
        'service_unavailable',
        'the rate limiter is unavailable; try again shortly',
      );
    }
  }
}

function pushQuota(keys: string[], args: (string | number)[], tag: string, quota: QuotaRule): void {
  keys.push(`${tag}:q:${quota.period}:${quota.periodKey}`);
  args.push(
    quota.requests ?? -1,
    quota.amount ?? -1,
    quota.resetAt,
    quota.used?.requests ?? -1,
    quota.used?.amount ?? -1,
  );
}
