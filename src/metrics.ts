import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type Metric,
  Registry,
} from 'prom-client';
import { VERIFY_CODES, type VerifyCode } from './core/verify-codes.ts';

/**
 * Which traffic a request is: management (everything but the routes below), the key-holder
 * routes (`GET /v1/key`, `GET /v1/usage`), `POST /v1/verify`, or the gateway.
 */
export type RouteKind = 'management' | 'key_holder' | 'verify' | 'gateway';
const ROUTE_KINDS: readonly RouteKind[] = ['management', 'key_holder', 'verify', 'gateway'];
const KIND_INDEX: Record<RouteKind, number> = {
  management: 0,
  key_holder: 1,
  verify: 2,
  gateway: 3,
};
const CODE_INDEX = Object.fromEntries(VERIFY_CODES.map((code, i) => [code, i])) as Record<
  VerifyCode,
  number
>;
/** HTTP statuses are 100-599: one slot per status and kind. */
const STATUS_SLOTS = 600;

/** Verification answers are sub-millisecond when cached; a cache miss or Redis adds a few ms. */
const VERIFICATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
/** Management requests include password hashing (tens of ms) and database writes. */
const MANAGEMENT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels = Record<string, string>;
interface Value {
  metricName: string;
  labels: Labels;
  value: number;
}

/**
 * A histogram whose observations are plain arithmetic on arrays (no label hashing, no
 * allocation), exported in prom-client's format when scraped. For the per-request histograms.
 */
class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: number[];
  private readonly labels: Labels[];
  /** Per series: one non-cumulative count per bucket, then one for +Inf. */
  private readonly counts: Float64Array;
  private readonly sums: Float64Array;

  constructor(name: string, help: string, bounds: number[], labels: Labels[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
    this.labels = labels;
    this.counts = new Float64Array(labels.length * (bounds.length + 1));
    this.sums = new Float64Array(labels.length);
  }

  observe(series: number, value: number): void {
    const bounds = this.bounds;
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket += 1;
    const slot = series * (bounds.length + 1) + bucket;
    this.counts[slot] = (this.counts[slot] as number) + 1;
    this.sums[series] = (this.sums[series] as number) + value;
  }

  /** What prom-client's registry reads from a metric (the shape of `Registry.getMetricsAsJSON`). */
  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    const width = this.bounds.length + 1;
    for (const [series, labels] of this.labels.entries()) {
      let cumulative = 0;
      for (let bucket = 0; bucket < width; bucket++) {
        cumulative += this.counts[series * width + bucket] as number;
        const le = bucket < this.bounds.length ? String(this.bounds[bucket]) : '+Inf';
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...labels, le },
          value: cumulative,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: this.sums[series] as number });
      values.push({ metricName: `${this.name}_count`, labels, value: cumulative });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
  }
}

/** A value a gauge or counter reads when scraped: one number, or one per label set. */
export type Reading = number | ReadonlyArray<readonly [Labels, number]>;

export interface CollectedMetric {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /** Called at each scrape, never on a request's path. */
  read(): Reading;
}

/** A gauge whose reading needs a query (the webhook backlog): awaited at each scrape. */
export interface QueriedMetric {
  name: string;
  help: string;
  read(): Promise<number>;
}

/**
 * Keyward's Prometheus metrics: one registry per process, served on METRICS_PORT
 * (docs/METRICS.md). Whatever is counted per request is a plain increment here or in the object
 * that owns it (the caches, the limiter, the bus); everything else is read when Prometheus
 * scrapes, through the `read` callbacks of {@link gauge} and {@link counter}. Any module can add
 * its own the same way, e.g. `services.metrics.gauge({ name: 'keyward_x', help, read })`.
 */
export class Metrics {
  readonly registry = new Registry();
  /** False when METRICS_PORT is unset: requests are then not counted and nothing is served. */
  readonly enabled: boolean;
  private readonly statuses = new Float64Array(ROUTE_KINDS.length * STATUS_SLOTS);
  private readonly verdicts = new Float64Array(ROUTE_KINDS.length * VERIFY_CODES.length);
  private readonly verificationDuration: FastHistogram;
  private readonly managementDuration: FastHistogram;
  private processMetrics = false;

  constructor(options: { enabled: boolean }) {
    this.enabled = options.enabled;
    this.verificationDuration = new FastHistogram(
      'keyward_verification_request_duration_seconds',
      'Time from routing to the end of the answer, for requests on the verification routes (the gateway: including the upstream)',
      VERIFICATION_BUCKETS,
      ROUTE_KINDS.slice(1).map((route) => ({ route })),
    );
    this.managementDuration = new FastHistogram(
      'keyward_management_request_duration_seconds',
      'Time from routing to the end of the answer, for every other request (management API, dashboard, health checks)',
      MANAGEMENT_BUCKETS,
      [{}],
    );
    this.registry.registerMetric(this.verificationDuration as unknown as Metric);
    this.registry.registerMetric(this.managementDuration as unknown as Metric);
    this.counter({
      name: 'keyward_http_requests_total',
      help: 'HTTP requests answered, by kind of traffic and status',
      labelNames: ['kind', 'status'],
      read: () => {
        const out: [Labels, number][] = [];
        for (const [k, kind] of ROUTE_KINDS.entries())
          for (let status = 100; status < STATUS_SLOTS; status++) {
            const n = this.statuses[k * STATUS_SLOTS + status] as number;
            if (n > 0) out.push([{ kind, status: String(status) }, n]);
          }
        return out;
      },
    });
    this.counter({
      name: 'keyward_verifications_total',
      help: 'Key verifications, by route kind (key_holder, verify, gateway) and outcome code',
      labelNames: ['route', 'code'],
      read: () => {
        const out: [Labels, number][] = [];
        for (const [k, route] of ROUTE_KINDS.entries())
          for (const [c, code] of VERIFY_CODES.entries()) {
            const n = this.verdicts[k * VERIFY_CODES.length + c] as number;
            if (n > 0) out.push([{ route, code }, n]);
          }
        return out;
      },
    });
  }

  /**
   * One answered request (called by the access log, http/access-log.ts, when enabled): its kind,
   * status, duration and, when it verified a key, the outcome.
   */
  request(kind: RouteKind, status: number, seconds: number, verdict: VerifyCode | null): void {
    const k = KIND_INDEX[kind];
    if (status < STATUS_SLOTS) {
      const slot = k * STATUS_SLOTS + status;
      this.statuses[slot] = (this.statuses[slot] as number) + 1;
    }
    if (k === 0) {
      this.managementDuration.observe(0, seconds);
      return;
    }
    this.verificationDuration.observe(k - 1, seconds);
    if (verdict !== null) {
      const slot = k * VERIFY_CODES.length + CODE_INDEX[verdict];
      this.verdicts[slot] = (this.verdicts[slot] as number) + 1;
    }
  }

  /** A gauge whose value is read at each scrape. */
  gauge(definition: CollectedMetric): void {
    const { read } = definition;
    new Gauge({
      name: definition.name,
      help: definition.help,
      labelNames: definition.labelNames ?? [],
      registers: [this.registry],
      collect() {
        this.reset();
        const reading = read();
        if (typeof reading === 'number') this.set(reading);
        else for (const [labels, value] of reading) this.set(labels, value);
      },
    });
  }

  /** A gauge read by a query at each scrape; a failed query leaves it out of that scrape. */
  queriedGauge(definition: QueriedMetric): void {
    const { read } = definition;
    new Gauge({
      name: definition.name,
      help: definition.help,
      registers: [this.registry],
      async collect() {
        this.reset();
        try {
          this.set(await read());
        } catch {
          // The database is unreachable: the readiness check and the other metrics say so.
        }
      },
    });
  }

  /**
   * A counter whose running total is kept elsewhere (a plain number incremented where the event
   * happens) and read at each scrape. The total must never go down while the process runs.
   */
  counter(definition: CollectedMetric): void {
    const { read } = definition;
    new Counter({
      name: definition.name,
      help: definition.help,
      labelNames: definition.labelNames ?? [],
      registers: [this.registry],
      collect() {
        this.reset();
        const reading = read();
        if (typeof reading === 'number') this.inc(reading);
        else for (const [labels, value] of reading) this.inc(labels, value);
      },
    });
  }

  /** A prom-client histogram for events off the request path (a usage flush, say). */
  histogram(definition: { name: string; help: string; buckets: number[] }): Histogram {
    return new Histogram({ ...definition, registers: [this.registry] });
  }

  /**
   * Adds prom-client's default process metrics (CPU, memory, event loop lag, GC), once. The event
   * loop delay is sampled every 100 ms rather than prom-client's 10 ms: 100 timer wake-ups a
   * second cost an idle node about 3 ms of CPU per second (bench/p10.ts), 10 cost nothing
   * measurable, and 150 samples per 15 s scrape are plenty for the percentiles.
   */
  collectProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  /** The text exposition Prometheus scrapes. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

export interface MetricsListener {
  /** `http://host:port` */
  address: string;
  close(): Promise<void>;
}

/**
 * The metrics listener on METRICS_HOST:METRICS_PORT, apart from the API so it is not exposed with
 * it: `GET /metrics` answers the text exposition; anything else is a 404 (or 405).
 */
export async function serveMetrics(
  metrics: Metrics,
  where: { host: string; port: number },
  onError: (error: unknown) => void,
): Promise<MetricsListener> {
  metrics.collectProcessMetrics();
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('not found: metrics are at /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      response.end('method not allowed\n');
      return;
    }
    metrics.text().then(
      (text) => {
        response.writeHead(200, { 'content-type': metrics.registry.contentType });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        onError(error);
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('metrics could not be collected\n');
      },
    );
  });
  // Scrapers keep their connection open; closing must not wait for them.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port, family } = server.address() as AddressInfo;
  const host = family === 'IPv6' ? `[${address}]` : address;
  return {
    address: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
