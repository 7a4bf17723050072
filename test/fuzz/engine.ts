import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { ERROR_STATUS } from '../../src/core/errors.ts';
import type { DatabaseKind } from '../helpers/databases.ts';
import { createHarness } from '../helpers/harness.ts';
import { Fixture } from './fixture.ts';
import { encodeLoose, toJsonText } from './inputs.ts';
import {
  ACTORS,
  type ActorName,
  type OpenApiDocument,
  type Operation,
  operationsOf,
} from './operations.ts';
import { type RequestSpec, requestArbitrary } from './requests.ts';

export interface RawFinding {
  kind: '5xx' | 'error-shape' | 'error-log' | 'hang' | 'inject-threw' | 'unhandled' | 'not-ready';
  db: string;
  route: string;
  status: number | null;
  /** The server-side error (from the log line of a 5xx), or what was wrong with the answer. */
  error: string;
  request: SentRequest | null;
}

export interface Finding extends RawFinding {
  count: number;
}

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

export interface FuzzReport {
  db: string;
  seed: number;
  requests: number;
  /** route -> status class ('2xx' …) -> count */
  byRoute: Record<string, Record<string, number>>;
  byStatus: Record<string, number>;
  findings: Finding[];
}

const SECRET_SHAPED = /(sk_(?:live|test)_|kw[ms]_)[0-9a-f]{36}([0-9a-f]{4})/g;
/** Session ids and CSRF tokens: 43 characters of base64url. */
const SESSION_SHAPED = /(?<![\w-])([\w-]{4})[\w-]{39}(?![\w-])/g;
/** Shortens a value for a report, masking every secret the fixture issued (before cutting it). */
const clip = (s: string, n: number) => {
  const masked = s.replace(SECRET_SHAPED, '$1…$2');
  return masked.length > n ? `${masked.slice(0, n)}…(${s.length} chars)` : masked;
};

export function describeRequest(r: SentRequest): string {
  const headers = Object.entries(r.headers)
    .map(([k, v]) => {
      const value = k === 'cookie' || k === 'x-csrf-token' ? v.replace(SESSION_SHAPED, '$1…') : v;
      return `${k}: ${JSON.stringify(clip(value, 80))}`;
    })
    .join('; ');
  return `${r.method} ${clip(r.url, 200)} [${headers}]${r.body === null ? '' : ` body ${JSON.stringify(clip(r.body, 200))}`}`;
}

const HEALS = /^(POST \/v1\/auth\/(logout|password)|PATCH \/v1\/admin\/users|DELETE \/v1\/tokens)/;

function buildRequest(
  fx: Fixture,
  op: Operation,
  spec: RequestSpec,
): SentRequest & { payload: string | Buffer | undefined; remoteAddress: string; actor: ActorName } {
  let i = 0;
  let url = op.path.replace(/\{[^}]+\}/g, () => fx.resolve(spec.path[i++] ?? ''));
  if (spec.query.length > 0)
    url += `?${spec.query.map(([k, v]) => `${encodeLoose(k)}=${encodeLoose(fx.resolve(v))}`).join('&')}`;
  const actors = spec.fitting ? op.fitting : ACTORS;
  const actor = actors[spec.actor % actors.length] as ActorName;
  const headers: Record<string, string> = fx.headersFor(actor, op.method, spec.actor);
  let payload: string | Buffer | undefined;
  let body: string | null = null;
  if (spec.body !== null) {
    if (spec.body.kind === 'bytes') {
      payload = Buffer.from(spec.body.bytes);
      body = payload.toString('latin1');
    } else {
      body = fx.resolve(spec.body.kind === 'json' ? toJsonText(spec.body.value) : spec.body.text);
      payload = body;
    }
    if (spec.body.contentType !== null) headers['content-type'] = spec.body.contentType;
  }
  for (const [name, value] of spec.headers) headers[name] = fx.resolve(value);
  for (const [name, value] of Object.entries(headers)) headers[name] = asReceived(value);
  return { method: op.method, url, headers, body, payload, remoteAddress: spec.ip, actor };
}

/**
 * A header value as Keyward receives it over HTTP, which inject() would otherwise skip: Node's
 * parser answers 400 to control characters other than tab (NUL, CR, DEL …) before any handler
 * runs, and hands over the bytes of a UTF-8 value decoded as Latin-1.
 */
function asReceived(value: string): string {
  let out = '';
  for (const ch of Buffer.from(value, 'utf8').toString('latin1')) {
    const code = ch.charCodeAt(0);
    out += (code < 0x20 && code !== 0x09) || code === 0x7f ? '?' : ch;
  }
  return out;
}

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

function checkAnswer(op: Operation, response: LightMyRequestResponse): string | null {
  if (response.statusCode < 400 || !op.json || op.method === 'HEAD') return null;
  let body: { error?: { code?: unknown; message?: unknown } };
  try {
    body = response.json();
  } catch {
    return `error answer is not JSON: ${clip(response.body, 100)}`;
  }
  const code = body.error?.code;
  const message = body.error?.message;
  if (typeof code !== 'string' || !(code in ERROR_STATUS))
    return `error.code missing or not in the catalogue: ${clip(JSON.stringify(body).replace(/"message":".*$/, ''), 100)}`;
  if (typeof message !== 'string' || message.length === 0)
    return `error.message missing (code ${code})`;
  if (ERROR_STATUS[code as keyof typeof ERROR_STATUS] !== response.statusCode)
    return `status ${response.statusCode} does not match code ${code}`;
  return null;
}

/** The error message of the log line(s) at level error or above, secrets masked, numbers kept. */
function errorLines(logs: string[]): { reqId: string | undefined; message: string }[] {
  const out: { reqId: string | undefined; message: string }[] = [];
  for (const line of logs) {
    if (!/"level":(5|6)\d/.test(line)) continue;
    try {
      const entry = JSON.parse(line) as {
        reqId?: string;
        msg?: string;
        err?: { message?: string; code?: string; type?: string };
      };
      const err = entry.err;
      out.push({
        reqId: entry.reqId,
        message: clip(
          `${err?.type ?? ''} ${err?.code ?? ''} ${err?.message ?? entry.msg ?? ''}`.trim(),
          300,
        ),
      });
    } catch {
      out.push({ reqId: undefined, message: clip(line, 300) });
    }
  }
  return out;
}

const REQUEST_TIMEOUT_MS = 15_000;

export interface FuzzOptions {
  seed: number;
  runs: number;
  /** Extra configuration for the app (environment variable names). */
  env?: Record<string, string>;
  onProgress?(done: number, report: FuzzReport): void;
}

/** Fuzzes one fresh app over a fresh database of `kind` and reports what it saw. */
export async function fuzzDatabase(kind: DatabaseKind, options: FuzzOptions): Promise<FuzzReport> {
  // Requests from 10.0.0.1 come through a trusted proxy, so X-Forwarded-For is parsed for them.
  // A deployment with webhooks on PostgreSQL sets SECRET_ENCRYPTION_KEY (without it, creating an
  // endpoint answers 503 encryption_key_missing by design, which is no finding).
  const h = await createHarness(kind, {
    TRUSTED_PROXIES: '10.0.0.1',
    SECRET_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
    ...options.env,
  });
  const report: FuzzReport = {
    db: kind.name,
    seed: options.seed,
    requests: 0,
    byRoute: {},
    byStatus: {},
    findings: [],
  };
  const distinct = new Map<string, Finding>();
  const record = (raw: RawFinding) => {
    // Digits and quoted values vary between occurrences of one bug.
    // A malformed answer is usually one code path's fault whatever the route; a 5xx is per route.
    const where = raw.kind === 'error-shape' ? '' : raw.route;
    const signature = `${raw.kind} ${where} ${raw.status} ${raw.error
      .replace(/"[^"]*"|'[^']*'/g, '…')
      .replace(/\d+/g, '#')
      .slice(0, 100)}`;
    const seen = distinct.get(signature);
    if (seen !== undefined) seen.count += 1;
    else distinct.set(signature, { ...raw, count: 1 });
  };
  const onUnhandled = (reason: unknown) =>
    record({
      kind: 'unhandled',
      db: kind.name,
      route: '-',
      status: null,
      error: clip(String((reason as Error)?.stack ?? reason), 400),
      request: null,
    });
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  try {
    const docResponse = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = docResponse.json() as OpenApiDocument;
    const ops = operationsOf(doc);
    const fx = new Fixture(h);
    await fx.setUp();
    h.logs.length = 0;
    const property = fc.asyncProperty(requestArbitrary(ops, doc), async (spec) => {
      const op = ops[spec.op] as Operation;
      const route = `${op.method} ${op.path}`;
      const sent = buildRequest(fx, op, spec);
      const { payload, remoteAddress, actor, ...request } = sent;
      let response: LightMyRequestResponse | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        response = await Promise.race([
          h.app.inject({
            method: sent.method as 'GET',
            url: sent.url,
            headers: sent.headers,
            remoteAddress,
            ...(payload !== undefined && { payload }),
          }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)),
              REQUEST_TIMEOUT_MS,
            );
          }),
        ]);
      } catch (error) {
        const message = String((error as Error).message);
        record({
          kind: message.startsWith('no answer') ? 'hang' : 'inject-threw',
          db: kind.name,
          route,
          status: null,
          error: clip(message, 300),
          request,
        });
      } finally {
        clearTimeout(timer);
      }
      report.requests += 1;
      const logged = errorLines(h.logs);
      h.logs.length = 0;
      if (response !== undefined) {
        const status = response.statusCode;
        const cls = statusClass(status);
        const perRoute = report.byRoute[route] ?? {};
        report.byRoute[route] = perRoute;
        perRoute[cls] = (perRoute[cls] ?? 0) + 1;
        report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
        let requestId: string | undefined;
        if (status >= 500) {
          try {
            requestId = (response.json() as { error?: { request_id?: string } }).error?.request_id;
          } catch {}
          const line = logged.find((l) => l.reqId === requestId) ?? logged[0];
          record({
            kind: '5xx',
            db: kind.name,
            route,
            status,
            error: line?.message ?? clip(response.body, 200),
            request,
          });
        }
        const problem = checkAnswer(op, response);
        if (problem !== null)
          record({ kind: 'error-shape', db: kind.name, route, status, error: problem, request });
        for (const line of logged)
          if (status < 500 || line.reqId !== requestId)
            record({
              kind: 'error-log',
              db: kind.name,
              route,
              status,
              error: line.message,
              request,
            });
        if (status < 300 && route === 'DELETE /v1/keys/{id}')
          fx.forget(request.url.split('/')[3] ?? '');
        if (status < 300) {
          try {
            fx.harvest(response.json(), op.path, actor !== 'session:b');
          } catch {}
        }
        if ((status < 300 && HEALS.test(route)) || report.requests % 200 === 0) await fx.heal();
        // A fresh key now and then, as the fuzzer revokes and deletes the ones it has.
        if (report.requests % 250 === 0) {
          await fx.heal();
          await fx.createKey('a', { name: `fresh ${report.requests}` });
        }
      }
      if (options.onProgress !== undefined && report.requests % 1000 === 0) {
        report.findings = [...distinct.values()];
        options.onProgress(report.requests, report);
      }
      return true;
    });
    const details = await fc.check(property, {
      seed: options.seed,
      numRuns: options.runs,
      endOnFailure: true,
    });
    // The property itself only throws when the fuzzer is broken (its checks record, not throw);
    // the counterexample is not printed as it can be thousands of levels deep.
    if (details.failed)
      throw new Error(
        `the fuzzer failed (seed ${options.seed}): ${String((details.errorInstance as Error)?.stack ?? details.errorInstance)}`,
      );
    for (const url of ['/healthz', '/readyz']) {
      const response = await h.app.inject({ method: 'GET', url });
      if (response.statusCode !== 200)
        record({
          kind: 'not-ready',
          db: kind.name,
          route: `GET ${url}`,
          status: response.statusCode,
          error: 'the app is not healthy after the run',
          request: null,
        });
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    await h.close();
  }
  report.findings = [...distinct.values()];
  return report;
}

/** Requests, seed, the share of each status class and the number of findings, on one line. */
export function summaryLine(report: FuzzReport): string {
  const total: Record<string, number> = {};
  for (const counts of Object.values(report.byRoute))
    for (const [cls, n] of Object.entries(counts)) total[cls] = (total[cls] ?? 0) + n;
  const classes = Object.entries(total)
    .sort()
    .map(([cls, n]) => `${cls} ${n} (${((100 * n) / Math.max(report.requests, 1)).toFixed(1)} %)`)
    .join(', ');
  return `${report.db}: ${report.requests} requests, seed ${report.seed}; ${classes}; findings: ${report.findings.length}`;
}

export function formatReport(report: FuzzReport): string {
  const lines = [summaryLine(report)];
  lines.push(
    `  statuses: ${Object.entries(report.byStatus)
      .map(([s, n]) => `${s}:${n}`)
      .join(' ')}`,
  );
  for (const [route, counts] of Object.entries(report.byRoute).sort())
    lines.push(
      `  ${route.padEnd(34)} ${['2xx', '3xx', '4xx', '5xx'].map((c) => `${c} ${String(counts[c] ?? 0).padStart(6)}`).join('  ')}`,
    );
  for (const f of report.findings)
    lines.push(
      `  ${f.kind} ×${f.count} ${f.route} → ${f.status ?? '-'}: ${f.error}\n      e.g. ${f.request === null ? '-' : describeRequest(f.request)}`,
    );
  return lines.join('\n');
}
