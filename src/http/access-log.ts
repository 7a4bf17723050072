import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { VerifyCode } from '../core/verify-codes.ts';
import { loggableUrl } from '../logger.ts';
import type { Metrics, RouteKind } from '../metrics.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by the handlers of the verification routes (`key_holder`, `verify`); null on every other
     * route (management). The gateway's requests are all `gateway`.
     */
    routeKind: RouteKind | null;
    /** The outcome when the request verified a key, set where the verdict is known; else null. */
    verdict: VerifyCode | null;
  }
}

/**
 * ACCESS_LOG (docs/METRICS.md#logs): `all` writes one line per request; `errors` one per
 * management request, and for verification traffic only the refused, failed or slow ones; `off`
 * none.
 */
export type AccessLogMode = 'all' | 'errors' | 'off';

/** The levels at which a logger writes `info` lines. */
const WRITES_INFO = new Set(['info', 'debug', 'trace']);

export interface AccessLogOptions {
  mode: AccessLogMode;
  /** A request at least this slow is logged whatever the mode (except `off`). */
  slowMs: number;
  /** The logger the app writes to: access lines are written only when it writes `info`. */
  logger: FastifyBaseLogger | false;
  /** Counts every request when metrics are enabled; null otherwise. */
  metrics: Metrics | null;
  /** The kind of every request of this app (the gateway); else the handlers say. */
  kind?: RouteKind;
}

/**
 * Replaces Fastify's two lines per request ("incoming request", "request completed") with at most
 * one, written when the answer has been sent. Fastify calls `requestCompleted` for every request
 * anyway, so the decision, the metrics and the line cost no extra hook; a verification that is
 * not logged costs a few comparisons. The line holds the request id (`reqId`), method, URL with
 * secrets masked and query values dropped (`loggableUrl`), route, status, duration, client address
 * and, for a verification, its outcome code; never a header. An answer that broke off is logged at
 * `warn` whatever ACCESS_LOG says.
 */
export class AccessLog extends LogController {
  private readonly everyVerification: boolean;
  private readonly writes: boolean;
  /** LOG_LEVEL=debug or trace: a line when each request arrives too, for troubleshooting. */
  private readonly arrivals: boolean;
  private readonly slowMs: number;
  private readonly metrics: Metrics | null;
  private readonly kind: RouteKind | null;

  constructor(options: AccessLogOptions) {
    super();
    this.writes =
      options.mode !== 'off' && options.logger !== false && WRITES_INFO.has(options.logger.level);
    this.arrivals =
      options.mode !== 'off' &&
      options.logger !== false &&
      (options.logger.level === 'debug' || options.logger.level === 'trace');
    this.everyVerification = options.mode === 'all';
    this.slowMs = options.slowMs;
    this.metrics = options.metrics;
    this.kind = options.kind ?? null;
  }

  override incomingRequest(request: FastifyRequest): void {
    if (this.arrivals)
      request.log.debug(
        { method: request.method, url: loggableUrl(request.url) },
        'request arrived',
      );
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const broken = error != null;
    if (!this.writes && this.metrics === null && !broken) return;
    const kind = this.kind ?? request.routeKind ?? 'management';
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    const verdict = request.verdict;
    this.metrics?.request(kind, status, ms / 1000, verdict);
    // An answer that broke off (the connection failed while it was sent) is a warning in any mode.
    if (broken) {
      request.log.warn(
        { ...this.fields(request, kind, status, ms, verdict), err: error },
        'the answer broke off',
      );
      return;
    }
    if (!this.writes) return;
    if (
      kind !== 'management' &&
      !this.everyVerification &&
      status < 400 &&
      ms < this.slowMs &&
      (verdict === null || verdict === 'VALID')
    )
      return;
    request.log.info(this.fields(request, kind, status, ms, verdict), 'request');
  }

  private fields(
    request: FastifyRequest,
    kind: RouteKind,
    status: number,
    ms: number,
    verdict: VerifyCode | null,
  ) {
    return {
      kind,
      method: request.method,
      url: loggableUrl(request.url),
      route:
        kind === 'gateway'
          ? (request.gateway?.route.path ?? null)
          : (request.routeOptions.url ?? null),
      status,
      duration_ms: Math.round(ms * 100) / 100,
      ip: request.ip,
      ...(verdict !== null && { code: verdict }),
      ...(ms >= this.slowMs && { slow: true }),
    };
  }
}
