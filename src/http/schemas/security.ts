import type { Scope } from '../../core/token.ts';

/**
 * The OpenAPI security schemes: how each kind of caller authenticates (plugins/auth.ts). A token
 * holding a broader scope passes for a narrower one: keys:write covers keys:read, and keys:manage
 * covers keys:read, keys:write and usage:read. The scopes a route needs are listed as the role
 * names of its requirement (OpenAPI 3.1 allows them for every scheme type).
 */
export function securitySchemes(cookieName: string, keyPrefix: string) {
  return {
    session: {
      type: 'apiKey',
      in: 'cookie',
      name: cookieName,
      description:
        'The dashboard session, set by POST /v1/auth/login or /v1/auth/signup. Writes (POST, PATCH, DELETE) also need the X-CSRF-Token header.',
    },
    csrfToken: {
      type: 'apiKey',
      in: 'header',
      name: 'X-CSRF-Token',
      description: 'The `csrf_token` of the session (login, signup and GET /v1/auth/me answer it)',
    },
    managementToken: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'kwm_…',
      description:
        "A management token (kwm_…), created in the dashboard: acts on its owner's keys with its scopes (keys:read, keys:write, usage:read)",
    },
    serviceToken: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'kws_…',
      description:
        'A service token (kws_…), created by an admin for a backend: keys:verify (verification and settlement), keys:manage (every owner’s keys), users:manage (the admin routes), leaks:report (POST /v1/leaks)',
    },
    githubKeyIdentifier: {
      type: 'apiKey',
      in: 'header',
      name: 'Github-Public-Key-Identifier',
      description:
        "Which of GitHub's secret-scanning public keys (GITHUB_SECRET_SCANNING_KEYS) signed the report",
    },
    githubSignature: {
      type: 'apiKey',
      in: 'header',
      name: 'Github-Public-Key-Signature',
      description:
        'Base64 ECDSA P-256 / SHA-256 signature of the raw request body by that key (POST /v1/leaks)',
    },
    apiKey: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: `${keyPrefix}_live_… / ${keyPrefix}_test_…`,
      description: 'An API key, for the key-holder routes (GET /v1/key, GET /v1/usage)',
    },
    apiKeyHeader: {
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
      description: 'The same API key in the X-API-Key header instead of Authorization',
    },
  } as const;
}

type Requirement = Record<string, string[]>;

/** Session (with CSRF on writes), management token or service token, each holding `scope`. */
function managed(scope: Scope, write: boolean): Requirement[] {
  return [
    write ? { session: [], csrfToken: [] } : { session: [] },
    { managementToken: [scope] },
    { serviceToken: [scope] },
  ];
}

/** What each route accepts, for its `security` in the OpenAPI document. */
export const SECURITY: {
  none: Requirement[];
  apiKey: Requirement[];
  verifier: Requirement[];
  read: (scope: Scope) => Requirement[];
  write: (scope: Scope) => Requirement[];
  anyCaller: Requirement[];
  sessionRead: Requirement[];
  sessionWrite: Requirement[];
  adminRead: Requirement[];
  adminWrite: Requirement[];
} = {
  /** No credentials: health checks, signup and login. */
  none: [],
  /** An API key in `Authorization: Bearer` or `X-API-Key`. */
  apiKey: [{ apiKey: [] }, { apiKeyHeader: [] }],
  /** A service token with keys:verify. */
  verifier: [{ serviceToken: ['keys:verify'] }],
  read: (scope: Scope) => managed(scope, false),
  write: (scope: Scope) => managed(scope, true),
  /** A signed-in user, or any token: who is calling. */
  anyCaller: [{ session: [] }, { managementToken: [] }, { serviceToken: [] }],
  /** The dashboard session only: token management, logout, password change. */
  sessionRead: [{ session: [] }],
  sessionWrite: [{ session: [], csrfToken: [] }],
  /** An admin's session, or a service token with users:manage. */
  adminRead: [{ session: [] }, { serviceToken: ['users:manage'] }],
  adminWrite: [{ session: [], csrfToken: [] }, { serviceToken: ['users:manage'] }],
};
