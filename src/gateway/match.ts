import type { GatewayRoute } from './routes-file.ts';

export interface RouteMatch {
  route: GatewayRoute;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
}

/**
 * The first rule whose method and path match, null when none does (deny by default), or
 * 'bad_path' for a path the upstream could read differently from the gateway: segments are
 * compared percent-decoded, and a `.` / `..` / empty segment or an encoded `/` or `\` is refused,
 * since `/public/../admin` or `/%61dmin` would otherwise reach the upstream's `/admin` under
 * another rule.
 */
export function matchRoute(
  routes: readonly GatewayRoute[],
  method: string,
  path: string,
): RouteMatch | null | 'bad_path' {
  const segments = splitPath(path);
  if (segments === null) return 'bad_path';
  for (const route of routes) {
    if (route.methods !== null && !route.methods.has(method)) continue;
    const params = matchSegments(route, segments);
    if (params !== null) return { route, params };
  }
  return null;
}

function splitPath(path: string): string[] | null {
  if (!path.startsWith('/')) return null;
  if (path === '/') return [];
  const raw = path.slice(1).split('/');
  // One trailing slash is the same resource; an empty segment elsewhere is not accepted.
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  const segments: string[] = [];
  for (const part of raw) {
    let decoded = part;
    if (part.includes('%')) {
      try {
        decoded = decodeURIComponent(part);
      } catch {
        return null;
      }
    }
    if (decoded === '' || decoded === '.' || decoded === '..' || /[/\\]/.test(decoded)) return null;
    segments.push(decoded);
  }
  return segments;
}

function matchSegments(
  route: GatewayRoute,
  segments: readonly string[],
): Record<string, string> | null {
  const pattern = route.segments;
  if (route.rest ? segments.length < pattern.length : segments.length !== pattern.length)
    return null;
  let params: Record<string, string> | null = null;
  for (let i = 0; i < pattern.length; i++) {
    const part = pattern[i] as (typeof pattern)[number];
    const segment = segments[i] as string;
    if (part.kind === 'literal') {
      if (part.text !== segment) return null;
    } else {
      params ??= {};
      params[part.name] = segment;
    }
  }
  return params ?? NO_PARAMS;
}

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
