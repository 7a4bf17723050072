/**
 * A small in-Node load generator for smoke runs and the CI test: it checks that every answer is
 * 2xx, not how fast they come (wrk does the measuring). Each "connection" is a loop of sequential
 * fetches, so `connections` requests are in flight at once.
 */
export interface LoadRequest {
  method: 'GET' | 'POST';
  /** Full URL, or a function drawing one per request. */
  url: string | (() => string);
  headers?: Record<string, string> | (() => Record<string, string>);
  body?: string;
}

export interface LoadOutcome {
  requests: number;
  /** Answers outside 200-299, by status. */
  non2xx: Record<number, number>;
  /** Requests that got no answer at all (connection refused, reset, timeout). */
  errors: string[];
  elapsedMs: number;
}

export async function fireRequests(
  request: LoadRequest,
  options: { total: number; connections: number },
): Promise<LoadOutcome> {
  const outcome: LoadOutcome = { requests: 0, non2xx: {}, errors: [], elapsedMs: 0 };
  const started = performance.now();
  let issued = 0;
  const loop = async () => {
    while (issued < options.total) {
      issued += 1;
      const url = typeof request.url === 'function' ? request.url() : request.url;
      const headers = typeof request.headers === 'function' ? request.headers() : request.headers;
      try {
        const response = await fetch(url, {
          method: request.method,
          ...(headers !== undefined && { headers }),
          ...(request.body !== undefined && { body: request.body }),
        });
        await response.arrayBuffer();
        outcome.requests += 1;
        if (response.status < 200 || response.status > 299)
          outcome.non2xx[response.status] = (outcome.non2xx[response.status] ?? 0) + 1;
      } catch (error) {
        outcome.errors.push((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, loop));
  outcome.elapsedMs = performance.now() - started;
  return outcome;
}

/** A one-line description of what went wrong, or null when every request got a 2xx answer. */
export function loadProblem(outcome: LoadOutcome): string | null {
  const statuses = Object.entries(outcome.non2xx);
  if (statuses.length === 0 && outcome.errors.length === 0) return null;
  const parts: string[] = [];
  if (statuses.length > 0)
    parts.push(`non-2xx answers: ${statuses.map(([s, n]) => `${n} × ${s}`).join(', ')}`);
  if (outcome.errors.length > 0)
    parts.push(`${outcome.errors.length} failed requests (first: ${outcome.errors[0]})`);
  return parts.join('; ');
}
