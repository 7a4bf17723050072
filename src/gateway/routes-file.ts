/**
 * The gateway's routes file (docs/GATEWAY.md): parsed and checked whole in pure code, every
 * problem reported with its JSON path, so `keyward gateway check` and the start-up check give the
 * same answer.
 */

export const GATEWAY_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
] as const;
export type GatewayMethod = (typeof GATEWAY_METHODS)[number];

/** Where a rule's resource comes from: fixed, or read from the request. */
export type ResourceSource =
  | { from: 'fixed'; value: string }
  | { from: 'path' | 'query' | 'header'; name: string }
  | { from: 'body'; field: string };

/**
 * A fixed cost, or one read from the upstream's response header: verification charges (for a
 * `billing: "usage"` key, reserves) `estimate`, and a usage-billed key is settled to the header's
 * value once the upstream has answered.
 */
export type CostSource =
  | { from: 'fixed'; value: number }
  | { from: 'response_header'; name: string; estimate: number };

export type PathSegment = { kind: 'literal'; text: string } | { kind: 'param'; name: string };

export interface GatewayRoute {
  /** Position in the file, for messages and logs. */
  index: number;
  /** null = any method. */
  methods: ReadonlySet<string> | null;
  /** The pattern as written, e.g. `/screenshots/:id`; usage is recorded under it. */
  path: string;
  segments: readonly PathSegment[];
  /** The pattern ends in `*`: zero or more further segments. */
  rest: boolean;
  public: boolean;
  permission: string | undefined;
  resource: ResourceSource | undefined;
  cost: CostSource;
}

export type RoutesFileResult =
  | { ok: true; routes: GatewayRoute[] }
  | { ok: false; problems: string[] };

const RULE_FIELDS = new Set([
  'method',
  'path',
  'public',
  'permission',
  'resource',
  'cost',
  'description',
]);
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An HTTP field name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PERMISSION = /^[A-Za-z0-9_.:*-]{1,100}$/;
const MAX_COST = 1e12;
const MAX_RULES = 10_000;

/** Parses the routes file's text. */
export function parseRoutesFile(text: string): RoutesFileResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`$: not valid JSON (${(error as Error).message})`] };
  }
  return checkRoutes(parsed);
}

/** Checks an already parsed routes document: `{"routes": [rule, …]}`. */
export function checkRoutes(document: unknown): RoutesFileResult {
  const problems: string[] = [];
  if (!isObject(document))
    return { ok: false, problems: ['$: must be an object {"routes": [...]}'] };
  for (const field of Object.keys(document)) {
    if (field !== 'routes') problems.push(`$.${field}: unknown field (only "routes" is allowed)`);
  }
  const rules = document.routes;
  if (!Array.isArray(rules)) {
    problems.push('$.routes: must be a list of rules');
    return { ok: false, problems };
  }
  if (rules.length === 0)
    problems.push('$.routes: needs at least one rule (nothing would be served)');
  if (rules.length > MAX_RULES) problems.push(`$.routes: at most ${MAX_RULES} rules`);
  const routes: GatewayRoute[] = [];
  rules.forEach((rule, index) => {
    const route = checkRule(rule, index, problems);
    if (route !== null) routes.push(route);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, routes };
}

function checkRule(rule: unknown, index: number, problems: string[]): GatewayRoute | null {
  const at = `$.routes[${index}]`;
  if (!isObject(rule)) {
    problems.push(`${at}: must be an object with at least "path"`);
    return null;
  }
  const before = problems.length;
  for (const field of Object.keys(rule)) {
    if (!RULE_FIELDS.has(field))
      problems.push(`${at}.${field}: unknown field (allowed: ${[...RULE_FIELDS].join(', ')})`);
  }
  if (rule.description !== undefined && typeof rule.description !== 'string')
    problems.push(`${at}.description: must be a string`);
  const methods = checkMethods(rule.method, `${at}.method`, problems);
  const path = checkPath(rule.path, `${at}.path`, problems);
  const isPublic = rule.public ?? false;
  if (typeof isPublic !== 'boolean') problems.push(`${at}.public: must be true or false`);
  let permission: string | undefined;
  if (rule.permission !== undefined) {
    if (typeof rule.permission !== 'string' || !PERMISSION.test(rule.permission))
      problems.push(
        `${at}.permission: must be a permission such as "screenshots:read" (letters, digits, _ . : * -)`,
      );
    else permission = rule.permission;
  }
  const resource =
    rule.resource === undefined
      ? undefined
      : checkResource(rule.resource, `${at}.resource`, path?.segments ?? [], problems);
  const cost = rule.cost === undefined ? undefined : checkCost(rule.cost, `${at}.cost`, problems);
  if (isPublic === true) {
    for (const field of ['permission', 'resource', 'cost'] as const) {
      if (rule[field] !== undefined)
        problems.push(`${at}.${field}: a public rule takes no key, so it cannot have a ${field}`);
    }
  }
  if (problems.length > before || path === null) return null;
  return {
    index,
    methods,
    path: path.text,
    segments: path.segments,
    rest: path.rest,
    public: isPublic === true,
    permission,
    resource,
    cost: cost ?? { from: 'fixed', value: 1 },
  };
}

function checkMethods(value: unknown, at: string, problems: string[]): ReadonlySet<string> | null {
  if (value === undefined || value === '*') return null;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`${at}: must be "*", a method such as "GET", or a non-empty list of methods`);
    return null;
  }
  const methods = new Set<string>();
  list.forEach((method, i) => {
    const where = Array.isArray(value) ? `${at}[${i}]` : at;
    if (typeof method !== 'string' || !(GATEWAY_METHODS as readonly string[]).includes(method))
      problems.push(
        `${where}: must be one of ${GATEWAY_METHODS.join(', ')} or "*" (got ${JSON.stringify(method)})`,
      );
    else methods.add(method);
  });
  return methods;
}

function checkPath(
  value: unknown,
  at: string,
  problems: string[],
): { text: string; segments: PathSegment[]; rest: boolean } | null {
  if (typeof value !== 'string' || !value.startsWith('/') || value.length > 2000) {
    problems.push(`${at}: must be a path starting with "/", such as "/screenshots/:id" or "/v1/*"`);
    return null;
  }
  const parts = value === '/' ? [] : value.slice(1).split('/');
  const segments: PathSegment[] = [];
  const names = new Set<string>();
  let rest = false;
  for (const [i, part] of parts.entries()) {
    if (part === '*') {
      if (i !== parts.length - 1) {
        problems.push(`${at}: "*" may only be the last segment (got "${value}")`);
        return null;
      }
      rest = true;
    } else if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!PARAM_NAME.test(name)) {
        problems.push(
          `${at}: parameter "${part}" must be ":" followed by a name of letters, digits and _`,
        );
        return null;
      }
      if (names.has(name)) {
        problems.push(`${at}: parameter ":${name}" appears twice`);
        return null;
      }
      names.add(name);
      segments.push({ kind: 'param', name });
    } else if (part === '' || part === '.' || part === '..' || /[*:?#\\\s]/.test(part)) {
      problems.push(
        `${at}: segment "${part}" is not allowed (no empty, "." or ".." segments, no * : ? # \\ or spaces inside a segment)`,
      );
      return null;
    } else {
      segments.push({ kind: 'literal', text: part });
    }
  }
  return { text: value, segments, rest };
}

function checkResource(
  value: unknown,
  at: string,
  segments: readonly PathSegment[],
  problems: string[],
): ResourceSource | undefined {
  if (typeof value === 'string') {
    if (value.length === 0 || value.length > 200) problems.push(`${at}: must be 1-200 characters`);
    return { from: 'fixed', value };
  }
  if (!isObject(value)) {
    problems.push(
      `${at}: must be a string, or {"from": "path"|"query"|"header", "name": …} or {"from": "body", "field": …}`,
    );
    return undefined;
  }
  const from = value.from;
  if (from === 'body') {
    for (const field of Object.keys(value))
      if (field !== 'from' && field !== 'field')
        problems.push(`${at}.${field}: unknown field (a body resource takes "field")`);
    if (typeof value.field !== 'string' || value.field.length === 0 || value.field.length > 200) {
      problems.push(`${at}.field: must name a top-level field of the JSON body, e.g. "model"`);
      return undefined;
    }
    return { from: 'body', field: value.field };
  }
  if (from !== 'path' && from !== 'query' && from !== 'header') {
    problems.push(
      `${at}.from: must be "path", "query", "header" or "body" (got ${JSON.stringify(from)})`,
    );
    return undefined;
  }
  for (const field of Object.keys(value))
    if (field !== 'from' && field !== 'name')
      problems.push(`${at}.${field}: unknown field (a ${from} resource takes "name")`);
  const name = value.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    problems.push(
      `${at}.name: must name the ${from === 'path' ? 'path parameter' : from === 'query' ? 'query parameter' : 'header'}`,
    );
    return undefined;
  }
  if (from === 'path' && !segments.some((s) => s.kind === 'param' && s.name === name)) {
    problems.push(`${at}.name: the path has no parameter ":${name}"`);
    return undefined;
  }
  if (from === 'header') {
    if (!HEADER_NAME.test(name)) {
      problems.push(`${at}.name: "${name}" is not a valid header name`);
      return undefined;
    }
    return { from, name: name.toLowerCase() };
  }
  return { from, name };
}

function checkCost(value: unknown, at: string, problems: string[]): CostSource | undefined {
  if (typeof value === 'number') {
    if (!isCost(value)) problems.push(`${at}: must be a whole number from 0 to ${MAX_COST}`);
    return { from: 'fixed', value };
  }
  if (!isObject(value) || value.from !== 'response_header') {
    problems.push(
      `${at}: must be a whole number, or {"from": "response_header", "name": "x-usage-tokens", "estimate": 1}`,
    );
    return undefined;
  }
  for (const field of Object.keys(value))
    if (field !== 'from' && field !== 'name' && field !== 'estimate')
      problems.push(`${at}.${field}: unknown field (allowed: from, name, estimate)`);
  const name = value.name;
  if (typeof name !== 'string' || !HEADER_NAME.test(name)) {
    problems.push(
      `${at}.name: must be the response header that carries the cost, e.g. "x-usage-tokens"`,
    );
    return undefined;
  }
  const estimate = value.estimate ?? 1;
  if (!isCost(estimate)) {
    problems.push(`${at}.estimate: must be a whole number from 0 to ${MAX_COST}`);
    return undefined;
  }
  return { from: 'response_header', name: name.toLowerCase(), estimate };
}

function isCost(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_COST;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
