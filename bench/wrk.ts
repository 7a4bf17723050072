/**
 * wrk as the load generator, pinned to its own core. A generated Lua script sets the request
 * (method, headers, body, or one drawn at random per request from a file of keys or paths) and
 * reports the summary as one JSON line, so nothing depends on wrk's human-readable output.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WrkSpec {
  /** Base URL of the server, e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Each request sends `Authorization: Bearer <a line of this file drawn uniformly>`. */
  bearerFile?: string;
  /** Each request appends a line of this file, drawn uniformly, to `path`. */
  pathSuffixFile?: string;
  connections: number;
  durationS: number;
  /** Each connection waits this long before each request: a paced load instead of a flood. */
  delayMs?: number;
}

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** connect/read/write/timeout: socket-level failures; status: answers ≥ 400. */
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
}

function commandExists(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const HAVE_WRK = commandExists('wrk');
export const HAVE_TASKSET = commandExists('taskset');

/** `cmd args…` prefixed with `taskset -c <cpu>` when taskset exists. */
export function pinned(cpu: string, command: string, args: string[]): [string, string[]] {
  return HAVE_TASKSET ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
}

export function wrkVersion(): string {
  if (!HAVE_WRK) return 'not installed';
  try {
    execFileSync('wrk', ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    // wrk -v prints its version and exits 1.
    const out = String((error as { stdout?: Buffer }).stdout ?? '');
    return (
      out
        .split('\n')[0]
        ?.replace(/\s*Copyright.*$/, '')
        .trim() ?? 'unknown'
    );
  }
  return 'unknown';
}

const lua = (value: string) => JSON.stringify(value);

function script(spec: WrkSpec): string {
  const lines = [`wrk.method = ${lua(spec.method)}`];
  for (const [name, value] of Object.entries(spec.headers))
    lines.push(`wrk.headers[${lua(name)}] = ${lua(value)}`);
  if (spec.body !== undefined) lines.push(`wrk.body = ${lua(spec.body)}`);
  if (spec.delayMs !== undefined) lines.push(`function delay() return ${spec.delayMs} end`);
  const file = spec.bearerFile ?? spec.pathSuffixFile;
  if (file !== undefined) {
    // Loaded in init(), which runs once per wrk thread before the timed part starts.
    lines.push(
      'local lines, n = {}, 0',
      'function init(args)',
      `  for line in io.lines(${lua(file)}) do n = n + 1; lines[n] = line end`,
      '  math.randomseed(os.time())',
      'end',
    );
    if (spec.bearerFile !== undefined) {
      lines.push(
        'function request()',
        '  return wrk.format(nil, nil, { Authorization = "Bearer " .. lines[math.random(n)] })',
        'end',
      );
    } else {
      lines.push(
        'function request()',
        `  return wrk.format(nil, ${lua(spec.path)} .. lines[math.random(n)])`,
        'end',
      );
    }
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n\',',
    '    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,',
    '    e.connect, e.read, e.write, e.status, e.timeout))',
    'end',
  );
  return `${lines.join('\n')}\n`;
}

let scriptCounter = 0;

/** Runs wrk (one thread, pinned to `cpu`) and returns its summary. */
export function runWrk(
  spec: WrkSpec,
  options: { cpu: string; scriptDir: string },
): Promise<WrkResult> {
  scriptCounter += 1;
  const scriptPath = join(options.scriptDir, `wrk-${scriptCounter}.lua`);
  writeFileSync(scriptPath, script(spec));
  const [command, args] = pinned(options.cpu, 'wrk', [
    '-t1',
    `-c${spec.connections}`,
    `-d${spec.durationS}s`,
    '--timeout',
    '10s',
    '-s',
    scriptPath,
    spec.baseUrl + spec.path,
  ]);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (code !== 0 || line === undefined) {
        reject(new Error(`wrk exited with ${code}: ${err.trim() || out.trim()}`));
        return;
      }
      const raw = JSON.parse(line.slice('WRK_JSON '.length)) as {
        requests: number;
        duration_us: number;
        p50_us: number;
        p99_us: number;
        max_us: number;
        errors: WrkResult['errors'];
      };
      const durationS = raw.duration_us / 1e6;
      resolve({
        requests: raw.requests,
        durationS,
        rps: raw.requests / durationS,
        p50Ms: raw.p50_us / 1000,
        p99Ms: raw.p99_us / 1000,
        maxMs: raw.max_us / 1000,
        errors: raw.errors,
      });
    });
  });
}

/** A one-line description of the failures in a wrk run, or null when there were none. */
export function wrkProblem(result: WrkResult): string | null {
  const failed = Object.entries(result.errors).filter(([, n]) => n > 0);
  if (failed.length === 0) return null;
  return failed
    .map(([kind, n]) => (kind === 'status' ? `${n} answers ≥ 400` : `${n} ${kind} errors`))
    .join(', ');
}
