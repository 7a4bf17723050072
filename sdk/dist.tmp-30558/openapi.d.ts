export type paths = {
  '/healthz': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * Liveness
     * @description The process is up, with the release and commit it runs.
     */
    get: operations['liveness'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/readyz': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * Readiness
     * @description The database answers and has room to write, and the process is not shutting down. `degraded` (still 200: the node serves safely, and every node shares the same Redis): Redis or the invalidation bus is unreachable; `checks` says which.
     */
    get: operations['readiness'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/admin/plans': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Plans of this deployment */
    get: operations['listPlans'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/admin/users': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * List users
     * @description An admin's session, or a service token with users:manage.
     */
    get: operations['listUsers'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/admin/users/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    /**
     * Change a user's plan, limits or credits, or disable the account
     * @description Disabling ends the sessions and refuses the keys and tokens of the account at once. `limits` (rate rules, daily and monthly quotas) and `credits` (a balance with an optional refill) are the account's own, shared by all its keys: every verification checks the key's own limits and then these, atomically, and a refusal by these says `scope: "owner"`. Each replaces the previous value whole; `{}` and `{"remaining": null}` remove them. Every node sees the change on the next verification.
     */
    patch: operations['updateUser'];
    trace?: never;
  };
  '/v1/audit-log': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * Audit log
     * @description Who did what, to which key, token or account, from which IP, when. Your own entries; admins see every entry. What an administrator (or the command line) did to your account shows as actor_type "administrator", without their id or address.
     */
    get: operations['listAuditEntries'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/login': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Sign in
     * @description A new session id every time. Failed attempts are throttled per account and per IP.
     */
    post: operations['login'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/logout': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Sign out
     * @description Ends the session on the server.
     */
    post: operations['logout'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/me': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** The signed-in user */
    get: operations['getCurrentUser'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/password': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Change the password
     * @description Every session of the account ends, this one too: the answer sets a new session cookie and carries its CSRF token. A wrong current password counts towards the login throttle (429 once exceeded) and is audited.
     */
    post: operations['changePassword'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/auth/signup': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Create an account
     * @description Signs the new user in: sets the session cookie.
     */
    post: operations['signup'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/key': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * This key
     * @description Status, name, permissions, expiry, limits and credits of the key in the Authorization header.
     */
    get: operations['getCurrentKey'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/keys': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * List API keys
     * @description Newest first; filter by status and environment, search by name. At most 100 a page.
     */
    get: operations['listKeys'];
    put?: never;
    /**
     * Create an API key
     * @description The secret is in the `key` field of this answer and is never shown again.
     */
    post: operations['createKey'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/keys/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Get an API key */
    get: operations['getKey'];
    put?: never;
    post?: never;
    /**
     * Delete an API key
     * @description Permanent. Usage history and audit entries stay.
     */
    delete: operations['deleteKey'];
    options?: never;
    head?: never;
    /**
     * Update an API key
     * @description Name, permissions, IP allowlist, expiry, enabled, limits, credits, billing, metadata. Never the secret, owner or hash.
     */
    patch: operations['updateKey'];
    trace?: never;
  };
  '/v1/keys/{id}/logs': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * A key's recent requests
     * @description Newest first: time, outcome, client IP, method and path (for key-holder and gateway requests), cost. Kept for REQUEST_LOG_RETENTION (30 days by default).
     */
    get: operations['listKeyRequests'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/keys/{id}/revoke': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Revoke an API key
     * @description Immediate and irreversible. The key stays listed with status revoked.
     */
    post: operations['revokeKey'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/keys/{id}/rotate': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Rotate an API key
     * @description Issues a new secret with the same settings under a new id. The old key works for the grace period, then stops.
     */
    post: operations['rotateKey'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/keys/{id}/usage': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * A key's usage over time
     * @description Requests per bucket by outcome, and the summed cost of valid requests. Days are calendar days in the deployment time zone; hours are UTC hours. Counts reach the history within one flush interval (1 s by default).
     */
    get: operations['getKeyUsage'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tokens': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** List your tokens */
    get: operations['listTokens'];
    put?: never;
    /**
     * Create a management or service token
     * @description Users may grant keys:read, keys:write, usage:read (a kwm_ token); admins may also grant keys:verify, keys:manage, users:manage (a kws_ service token). The secret is in `token`, once.
     */
    post: operations['createToken'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/tokens/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post?: never;
    /**
     * Revoke a token
     * @description The token stops working at once.
     */
    delete: operations['deleteToken'];
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/usage': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /**
     * This key's usage
     * @description Requests and amount today and this month (calendar periods in the deployment's time zone).
     */
    get: operations['getCurrentKeyUsage'];
    put?: never;
    /**
     * Settle usage-based billing
     * @description For keys with billing "usage": verification reserved its `cost`; report the final amount with that verification_id and the difference is refunded or charged atomically (the balance never goes below zero). A reservation settles once. With key_id instead, the amount is charged directly.
     */
    post: operations['settleUsage'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/verify': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /**
     * Verify an API key
     * @description Always 200 for a well-formed request: `valid` and `code` say whether the key may be used. Needs a service token with keys:verify.
     */
    post: operations['verifyKey'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
};
export type webhooks = Record<string, never>;
export type components = {
  schemas: {
    /**
     * @description An API key, without its secret
     * @example {
     *       "object": "api_key",
     *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *       "name": "Production backend",
     *       "environment": "live",
     *       "start": "sk_live_3f9a",
     *       "last4": "c41e",
     *       "masked": "sk_live_3f9a…c41e",
     *       "status": "active",
     *       "permissions": [
     *         "*"
     *       ],
     *       "ip_allowlist": [],
     *       "allowed_resources": [],
     *       "expires_at": null,
     *       "enabled": true,
     *       "revoked_at": null,
     *       "created_at": "2026-06-01T12:00:00.000Z",
     *       "updated_at": "2026-06-01T12:00:00.000Z",
     *       "last_used_at": "2026-06-02T08:15:30.000Z",
     *       "usage_count": 1234,
     *       "limits": {
     *         "rate": [
     *           {
     *             "limit": 60,
     *             "window": "1m"
     *           }
     *         ],
     *         "monthly": {
     *           "requests": 100000
     *         }
     *       },
     *       "credits": {
     *         "remaining": null
     *       },
     *       "billing": "per_request",
     *       "metadata": {
     *         "customer": "acme"
     *       },
     *       "rotated_from": null,
     *       "rotated_to": null
     *     }
     */
    ApiKey: {
      allowed_resources: string[];
      /** @enum {unknown} */
      billing: 'per_request' | 'usage';
      /** Format: date-time */
      created_at: string;
      credits: {
        refill?: {
          amount: number;
          /** @enum {unknown} */
          interval: 'daily' | 'monthly';
        } | null;
        /** @description null = unlimited */
        remaining: number | null;
      };
      enabled: boolean;
      /** @enum {unknown} */
      environment: 'live' | 'test';
      /** Format: date-time */
      expires_at: string | null;
      id: string;
      ip_allowlist: string[];
      /** Format: date-time */
      last_used_at: string | null;
      last4: string;
      /** @description Rate limits, quotas and the largest cost one request may have */
      limits: {
        daily?: {
          amount?: number;
          requests?: number;
        };
        max_cost_per_request?: number;
        monthly?: {
          amount?: number;
          requests?: number;
        };
        rate?: {
          limit: number;
          /** @description Window such as 1s, 1m, 1h, 1d */
          window: string;
        }[];
      };
      /** @description How to display the key: start…last4 */
      masked: string;
      /** @description Any JSON object up to 16 KB */
      metadata: {
        [key: string]: unknown;
      };
      name: string;
      /** @enum {string} */
      object: 'api_key';
      owner_id: string;
      permissions: string[];
      /** Format: date-time */
      revoked_at: string | null;
      rotated_from: string | null;
      rotated_to: string | null;
      /** @description The first characters of the key, safe to show */
      start: string;
      /** @enum {unknown} */
      status: 'active' | 'revoked' | 'expired' | 'disabled';
      /** Format: date-time */
      updated_at: string;
      usage_count: number;
    };
    /**
     * @description A page of API keys, newest first
     * @example {
     *       "object": "list",
     *       "data": [
     *         {
     *           "object": "api_key",
     *           "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *           "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *           "name": "Production backend",
     *           "environment": "live",
     *           "start": "sk_live_3f9a",
     *           "last4": "c41e",
     *           "masked": "sk_live_3f9a…c41e",
     *           "status": "active",
     *           "permissions": [
     *             "*"
     *           ],
     *           "ip_allowlist": [],
     *           "allowed_resources": [],
     *           "expires_at": null,
     *           "enabled": true,
     *           "revoked_at": null,
     *           "created_at": "2026-06-01T12:00:00.000Z",
     *           "updated_at": "2026-06-01T12:00:00.000Z",
     *           "last_used_at": "2026-06-02T08:15:30.000Z",
     *           "usage_count": 1234,
     *           "limits": {
     *             "rate": [
     *               {
     *                 "limit": 60,
     *                 "window": "1m"
     *               }
     *             ],
     *             "monthly": {
     *               "requests": 100000
     *             }
     *           },
     *           "credits": {
     *             "remaining": null
     *           },
     *           "billing": "per_request",
     *           "metadata": {
     *             "customer": "acme"
     *           },
     *           "rotated_from": null,
     *           "rotated_to": null
     *         }
     *       ],
     *       "has_more": false,
     *       "next_cursor": null
     *     }
     */
    ApiKeyList: {
      data: components['schemas']['ApiKey'][];
      has_more: boolean;
      /** @description Pass as `cursor` for the next page */
      next_cursor: string | null;
      /** @enum {string} */
      object: 'list';
    };
    /**
     * @description A new API key and its secret, which is never shown again
     * @example {
     *       "object": "api_key",
     *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *       "name": "Production backend",
     *       "environment": "live",
     *       "start": "sk_live_3f9a",
     *       "last4": "c41e",
     *       "masked": "sk_live_3f9a…c41e",
     *       "status": "active",
     *       "permissions": [
     *         "*"
     *       ],
     *       "ip_allowlist": [],
     *       "allowed_resources": [],
     *       "expires_at": null,
     *       "enabled": true,
     *       "revoked_at": null,
     *       "created_at": "2026-06-01T12:00:00.000Z",
     *       "updated_at": "2026-06-01T12:00:00.000Z",
     *       "last_used_at": "2026-06-02T08:15:30.000Z",
     *       "usage_count": 1234,
     *       "limits": {
     *         "rate": [
     *           {
     *             "limit": 60,
     *             "window": "1m"
     *           }
     *         ],
     *         "monthly": {
     *           "requests": 100000
     *         }
     *       },
     *       "credits": {
     *         "remaining": null
     *       },
     *       "billing": "per_request",
     *       "metadata": {
     *         "customer": "acme"
     *       },
     *       "rotated_from": null,
     *       "rotated_to": null,
     *       "key": "sk_live_3f9a8d0b6e2c4a1f9b7d5e3c1a0f8e6d4b2ac41e"
     *     }
     */
    ApiKeyWithSecret: {
      allowed_resources: string[];
      /** @enum {unknown} */
      billing: 'per_request' | 'usage';
      /** Format: date-time */
      created_at: string;
      credits: {
        refill?: {
          amount: number;
          /** @enum {unknown} */
          interval: 'daily' | 'monthly';
        } | null;
        /** @description null = unlimited */
        remaining: number | null;
      };
      enabled: boolean;
      /** @enum {unknown} */
      environment: 'live' | 'test';
      /** Format: date-time */
      expires_at: string | null;
      id: string;
      ip_allowlist: string[];
      /** @description The secret: shown in this answer only */
      key: string;
      /** Format: date-time */
      last_used_at: string | null;
      last4: string;
      /** @description Rate limits, quotas and the largest cost one request may have */
      limits: {
        daily?: {
          amount?: number;
          requests?: number;
        };
        max_cost_per_request?: number;
        monthly?: {
          amount?: number;
          requests?: number;
        };
        rate?: {
          limit: number;
          /** @description Window such as 1s, 1m, 1h, 1d */
          window: string;
        }[];
      };
      /** @description How to display the key: start…last4 */
      masked: string;
      /** @description Any JSON object up to 16 KB */
      metadata: {
        [key: string]: unknown;
      };
      name: string;
      /** @enum {string} */
      object: 'api_key';
      owner_id: string;
      permissions: string[];
      /** Format: date-time */
      revoked_at: string | null;
      rotated_from: string | null;
      rotated_to: string | null;
      /** @description The first characters of the key, safe to show */
      start: string;
      /** @enum {unknown} */
      status: 'active' | 'revoked' | 'expired' | 'disabled';
      /** Format: date-time */
      updated_at: string;
      usage_count: number;
    };
    /**
     * @example {
     *       "id": 42,
     *       "created_at": "2026-06-01T12:00:00.000Z",
     *       "actor_type": "user",
     *       "actor_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *       "action": "key.created",
     *       "target_type": "api_key",
     *       "target_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *       "ip": "203.0.113.7",
     *       "details": {
     *         "name": "Production backend",
     *         "environment": "live"
     *       }
     *     }
     */
    AuditEntry: {
      action: string;
      actor_id: string | null;
      actor_type: string;
      /** Format: date-time */
      created_at: string;
      details: {
        [key: string]: unknown;
      };
      id: number;
      ip: string | null;
      owner_id: string | null;
      target_id: string | null;
      target_type: string | null;
    };
    /**
     * @description A page of audit entries, newest first
     * @example {
     *       "object": "list",
     *       "data": [
     *         {
     *           "id": 42,
     *           "created_at": "2026-06-01T12:00:00.000Z",
     *           "actor_type": "user",
     *           "actor_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *           "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *           "action": "key.created",
     *           "target_type": "api_key",
     *           "target_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *           "ip": "203.0.113.7",
     *           "details": {
     *             "name": "Production backend",
     *             "environment": "live"
     *           }
     *         }
     *       ],
     *       "next_cursor": null
     *     }
     */
    AuditLog: {
      data: components['schemas']['AuditEntry'][];
      /** @description Pass as `cursor` for the next page */
      next_cursor: number | null;
      /** @enum {string} */
      object: 'list';
    };
    /**
     * @example {
     *       "csrf_token": "Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf"
     *     }
     */
    CsrfToken: {
      /** @description The new session's CSRF token */
      csrf_token: string;
    };
    /**
     * @description Who is calling
     * @example {
     *       "user": {
     *         "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *         "email": "ada@example.com",
     *         "role": "user",
     *         "plan": "free",
     *         "disabled": false,
     *         "created_at": "2026-06-01T12:00:00.000Z",
     *         "limits": {
     *           "daily": {
     *             "requests": 1000
     *           }
     *         },
     *         "credits": {
     *           "remaining": 4200,
     *           "refill": {
     *             "amount": 5000,
     *             "interval": "monthly"
     *           }
     *         }
     *       },
     *       "csrf_token": "Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf",
     *       "ip": "203.0.113.7",
     *       "plan_usage": {
     *         "plan": "free",
     *         "keys_used": 2,
     *         "keys_limit": 5
     *       }
     *     }
     */
    CurrentUser: {
      /** @description null when a token is calling */
      csrf_token: string | null;
      /** @description Your address as Keyward sees it */
      ip: string;
      plan_usage: {
        /** @description null = no limit */
        keys_limit: number | null;
        keys_used: number;
        plan: string;
      };
      user: components['schemas']['User'];
    };
    /**
     * @description Every error answer has this shape
     * @example {
     *       "error": {
     *         "code": "validation_error",
     *         "message": "body/name must NOT have fewer than 1 characters",
     *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
     *       }
     *     }
     */
    Error: {
      error: {
        /**
         * @description Stable, machine-readable error code
         * @enum {unknown}
         */
        code:
          | 'validation_error'
          | 'invalid_json'
          | 'unknown_field'
          | 'request_incomplete'
          | 'unauthorized'
          | 'invalid_credentials'
          | 'session_expired'
          | 'key_not_found'
          | 'key_revoked'
          | 'key_expired'
          | 'key_disabled'
          | 'insufficient_credits'
          | 'forbidden'
          | 'ip_not_allowed'
          | 'csrf_failed'
          | 'account_disabled'
          | 'plan_limit_reached'
          | 'not_found'
          | 'route_not_found'
          | 'method_not_allowed'
          | 'email_taken'
          | 'invalid_state'
          | 'request_timeout'
          | 'payload_too_large'
          | 'unsupported_media_type'
          | 'too_many_attempts'
          | 'rate_limited'
          | 'quota_exceeded'
          | 'headers_too_large'
          | 'internal_error'
          | 'upstream_unavailable'
          | 'service_unavailable'
          | 'upstream_timeout'
          | 'storage_full';
        /** @description What went wrong, in words a person understands */
        message: string;
        /** @description Quote it when asking about this request */
        request_id: string;
        /**
         * @description On a refused API key (key-holder routes, gateway): `owner` when the account's shared limits or credits refused (owner balances), `key` otherwise
         * @enum {unknown}
         */
        scope?: 'key' | 'owner';
      };
    };
    /**
     * @description The calling key, as its holder may see it
     * @example {
     *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *       "name": "Production backend",
     *       "environment": "live",
     *       "status": "active",
     *       "permissions": [
     *         "*"
     *       ],
     *       "expires_at": null,
     *       "limits": {
     *         "rate": [
     *           {
     *             "limit": 60,
     *             "window": "1m"
     *           }
     *         ],
     *         "monthly": {
     *           "requests": 100000
     *         }
     *       },
     *       "credits": {
     *         "remaining": null
     *       }
     *     }
     */
    KeyInfo: {
      credits: {
        refill?: {
          amount: number;
          /** @enum {unknown} */
          interval: 'daily' | 'monthly';
        } | null;
        /** @description null = unlimited */
        remaining: number | null;
      };
      environment: string;
      expires_at: string | null;
      id: string;
      /** @description Rate limits, quotas and the largest cost one request may have */
      limits: {
        daily?: {
          amount?: number;
          requests?: number;
        };
        max_cost_per_request?: number;
        monthly?: {
          amount?: number;
          requests?: number;
        };
        rate?: {
          limit: number;
          /** @description Window such as 1s, 1m, 1h, 1d */
          window: string;
        }[];
      };
      name: string;
      permissions: string[];
      status: string;
    };
    /**
     * @example {
     *       "status": "ok",
     *       "version": "0.2.0",
     *       "commit": "9dcdca1f3b6c4d7e8a9b0c1d2e3f405162738495"
     *     }
     */
    Liveness: {
      /** @description The commit the code was built from, when known */
      commit: string | null;
      /** @enum {string} */
      status: 'ok';
      /** @description The release (semantic versioning) */
      version: string;
    };
    /**
     * @description The plans configured in PLANS
     * @example {
     *       "object": "list",
     *       "data": [
     *         {
     *           "name": "free",
     *           "max_keys": 5
     *         },
     *         {
     *           "name": "pro",
     *           "max_keys": null
     *         }
     *       ],
     *       "default_plan": "free"
     *     }
     */
    PlanList: {
      data: {
        /** @description null = no limit */
        max_keys: number | null;
        name: string;
      }[];
      default_plan: string;
      /** @enum {string} */
      object: 'list';
    };
    /**
     * @example {
     *       "status": "ready"
     *     }
     * @example {
     *       "status": "degraded",
     *       "checks": {
     *         "database": "ok",
     *         "redis": "unavailable"
     *       }
     *     }
     */
    Readiness: {
      /** @description Present when degraded: each dependency and its state */
      checks?: {
        [key: string]: string;
      };
      /** @enum {unknown} */
      status: 'ready' | 'degraded';
    };
    /**
     * @description A page of a key's recent requests, newest first
     * @example {
     *       "object": "list",
     *       "data": [
     *         {
     *           "at": "2026-06-01T11:59:58.000Z",
     *           "outcome": "VALID",
     *           "ip": "203.0.113.7",
     *           "method": "GET",
     *           "path": "/v1/key",
     *           "cost": 1
     *         }
     *       ],
     *       "next_cursor": null
     *     }
     */
    RequestLog: {
      data: {
        at: string;
        cost: number;
        ip: string | null;
        method: string | null;
        /** @enum {unknown} */
        outcome:
          | 'VALID'
          | 'REVOKED'
          | 'EXPIRED'
          | 'DISABLED'
          | 'IP_NOT_ALLOWED'
          | 'FORBIDDEN'
          | 'RATE_LIMITED'
          | 'QUOTA_EXCEEDED'
          | 'INSUFFICIENT_CREDITS';
        path: string | null;
      }[];
      /** @description Pass as `cursor` for the next page */
      next_cursor: number | null;
      /** @enum {string} */
      object: 'list';
    };
    /**
     * @description The signed-in user; the session itself is in the Set-Cookie header
     * @example {
     *       "user": {
     *         "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *         "email": "ada@example.com",
     *         "role": "user",
     *         "plan": "free",
     *         "disabled": false,
     *         "created_at": "2026-06-01T12:00:00.000Z",
     *         "limits": {
     *           "daily": {
     *             "requests": 1000
     *           }
     *         },
     *         "credits": {
     *           "remaining": 4200,
     *           "refill": {
     *             "amount": 5000,
     *             "interval": "monthly"
     *           }
     *         }
     *       },
     *       "csrf_token": "Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf"
     *     }
     */
    Session: {
      /** @description Send as X-CSRF-Token on every cookie-authenticated write */
      csrf_token: string;
      user: components['schemas']['User'];
    };
    /**
     * @example {
     *       "key_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *       "reserved": 10,
     *       "amount": 7,
     *       "adjusted": 3,
     *       "credits": {
     *         "remaining": 993
     *       },
     *       "owner_credits": null
     *     }
     */
    Settlement: {
      /** @description Credits moved: negative = charged, positive = refunded */
      adjusted: number;
      amount: number;
      credits: {
        remaining: number | null;
      };
      key_id: string;
      /** @description The account's shared balance afterwards, when the settlement moved it (owner balances) */
      owner_credits?: {
        remaining: number;
      } | null;
      /** @description What the verification reserved (its cost) */
      reserved: number;
    };
    /**
     * @description A management (kwm_) or service (kws_) token, without its secret
     * @example {
     *       "object": "token",
     *       "id": "tok_m4x7c2vq9kz3b6wd5th8rn2p",
     *       "name": "CI deploys",
     *       "kind": "management",
     *       "masked": "kwm_9c1e…77b0",
     *       "scopes": [
     *         "keys:read",
     *         "keys:write"
     *       ],
     *       "created_at": "2026-06-01T12:00:00.000Z",
     *       "expires_at": "2026-07-01T12:00:00.000Z",
     *       "last_used_at": null
     *     }
     */
    Token: {
      /** Format: date-time */
      created_at: string;
      /** Format: date-time */
      expires_at: string | null;
      id: string;
      /**
       * @description service when any scope is keys:verify, keys:manage or users:manage
       * @enum {unknown}
       */
      kind: 'management' | 'service';
      /** Format: date-time */
      last_used_at: string | null;
      masked: string;
      name: string;
      /** @enum {string} */
      object: 'token';
      scopes: (
        | 'keys:read'
        | 'keys:write'
        | 'usage:read'
        | 'keys:verify'
        | 'keys:manage'
        | 'users:manage'
      )[];
    };
    /**
     * @example {
     *       "object": "list",
     *       "data": [
     *         {
     *           "object": "token",
     *           "id": "tok_m4x7c2vq9kz3b6wd5th8rn2p",
     *           "name": "CI deploys",
     *           "kind": "management",
     *           "masked": "kwm_9c1e…77b0",
     *           "scopes": [
     *             "keys:read",
     *             "keys:write"
     *           ],
     *           "created_at": "2026-06-01T12:00:00.000Z",
     *           "expires_at": "2026-07-01T12:00:00.000Z",
     *           "last_used_at": null
     *         }
     *       ]
     *     }
     */
    TokenList: {
      data: components['schemas']['Token'][];
      /** @enum {string} */
      object: 'list';
    };
    /**
     * @description A new token and its secret, which is never shown again
     * @example {
     *       "object": "token",
     *       "id": "tok_m4x7c2vq9kz3b6wd5th8rn2p",
     *       "name": "CI deploys",
     *       "kind": "management",
     *       "masked": "kwm_9c1e…77b0",
     *       "scopes": [
     *         "keys:read",
     *         "keys:write"
     *       ],
     *       "created_at": "2026-06-01T12:00:00.000Z",
     *       "expires_at": "2026-07-01T12:00:00.000Z",
     *       "last_used_at": null,
     *       "token": "kwm_9c1e4b7a2d8f6e0c3b5a9d1f7e2c4b6a8d0f77b0"
     *     }
     */
    TokenWithSecret: {
      /** Format: date-time */
      created_at: string;
      /** Format: date-time */
      expires_at: string | null;
      id: string;
      /**
       * @description service when any scope is keys:verify, keys:manage or users:manage
       * @enum {unknown}
       */
      kind: 'management' | 'service';
      /** Format: date-time */
      last_used_at: string | null;
      masked: string;
      name: string;
      /** @enum {string} */
      object: 'token';
      scopes: (
        | 'keys:read'
        | 'keys:write'
        | 'usage:read'
        | 'keys:verify'
        | 'keys:manage'
        | 'users:manage'
      )[];
      /** @description The secret: shown in this answer only */
      token: string;
    };
    /**
     * @example {
     *       "status": "unavailable",
     *       "reason": "database unavailable"
     *     }
     */
    Unavailable: {
      reason: string;
      /** @enum {string} */
      status: 'unavailable';
    };
    /**
     * @description The calling key's requests and amount today and this month
     * @example {
     *       "today_usage": {
     *         "requests": 120,
     *         "amount": 120
     *       },
     *       "month_usage": {
     *         "requests": 4310,
     *         "amount": 4310
     *       }
     *     }
     */
    Usage: {
      month_usage: {
        amount: number;
        requests: number;
      };
      today_usage: {
        amount: number;
        requests: number;
      };
    };
    /**
     * @description A key's requests per bucket, by outcome
     * @example {
     *       "key_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *       "granularity": "day",
     *       "from": "2026-05-02T12:00:00.000Z",
     *       "to": "2026-06-01T12:00:00.000Z",
     *       "data": [
     *         {
     *           "bucket": "2026-06-01",
     *           "requests": 130,
     *           "amount": 120,
     *           "outcomes": {
     *             "VALID": 120,
     *             "RATE_LIMITED": 10
     *           }
     *         }
     *       ]
     *     }
     */
    UsageSeries: {
      data: {
        amount: number;
        /** @description YYYY-MM-DD (day) or the hour start (hour) */
        bucket: string;
        outcomes: {
          [key: string]: number;
        };
        requests: number;
      }[];
      from: string;
      /** @enum {unknown} */
      granularity: 'hour' | 'day';
      key_id: string;
      to: string;
    };
    /**
     * @description An account
     * @example {
     *       "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *       "email": "ada@example.com",
     *       "role": "user",
     *       "plan": "free",
     *       "disabled": false,
     *       "created_at": "2026-06-01T12:00:00.000Z",
     *       "limits": {
     *         "daily": {
     *           "requests": 1000
     *         }
     *       },
     *       "credits": {
     *         "remaining": 4200,
     *         "refill": {
     *           "amount": 5000,
     *           "interval": "monthly"
     *         }
     *       }
     *     }
     */
    User: {
      /** Format: date-time */
      created_at: string;
      /** @description The account's own credits, shared by all its keys and spent after each key's own; `remaining: null` = unlimited */
      credits: {
        refill?: {
          amount: number;
          /** @enum {unknown} */
          interval: 'daily' | 'monthly';
        } | null;
        /** @description null = unlimited */
        remaining: number | null;
      };
      disabled: boolean;
      email: string;
      id: string;
      /** @description The account's own rate limits and quotas, shared by all its keys and checked after each key's own; `{}` = none */
      limits: {
        daily?: {
          amount?: number;
          requests?: number;
        };
        monthly?: {
          amount?: number;
          requests?: number;
        };
        rate?: {
          limit: number;
          /** @description Window such as 1s, 1m, 1h, 1d */
          window: string;
        }[];
      };
      plan: string;
      /** @enum {unknown} */
      role: 'user' | 'admin';
    };
    /**
     * @example {
     *       "object": "list",
     *       "data": [
     *         {
     *           "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *           "email": "ada@example.com",
     *           "role": "user",
     *           "plan": "free",
     *           "disabled": false,
     *           "created_at": "2026-06-01T12:00:00.000Z",
     *           "limits": {
     *             "daily": {
     *               "requests": 1000
     *             }
     *           },
     *           "credits": {
     *             "remaining": 4200,
     *             "refill": {
     *               "amount": 5000,
     *               "interval": "monthly"
     *             }
     *           }
     *         }
     *       ],
     *       "next_cursor": null
     *     }
     */
    UserList: {
      data: components['schemas']['User'][];
      /** @description Pass as `cursor` for the next page */
      next_cursor: string | null;
      /** @enum {string} */
      object: 'list';
    };
    /**
     * @description Whether the key may be used, and what the caller needs to know about it
     * @example {
     *       "valid": true,
     *       "code": "VALID",
     *       "verification_id": "ver_8c1f6a0d3e9b2c741k",
     *       "key_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
     *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
     *       "name": "Production backend",
     *       "environment": "live",
     *       "permissions": [
     *         "*"
     *       ],
     *       "metadata": {
     *         "customer": "acme"
     *       },
     *       "expires_at": null,
     *       "ratelimit": {
     *         "limit": 60,
     *         "remaining": 59,
     *         "reset": 1780315260000
     *       },
     *       "rate_limits": [
     *         {
     *           "name": "minute",
     *           "limit": 60,
     *           "remaining": 59,
     *           "window": 60,
     *           "reset_after": 1
     *         }
     *       ],
     *       "credits": {
     *         "remaining": null
     *       },
     *       "owner_credits": null,
     *       "scope": null,
     *       "retry_after": null
     *     }
     */
    Verification: {
      /**
       * @description VALID, or why the key may not be used
       * @enum {unknown}
       */
      code:
        | 'VALID'
        | 'NOT_FOUND'
        | 'REVOKED'
        | 'EXPIRED'
        | 'DISABLED'
        | 'IP_NOT_ALLOWED'
        | 'FORBIDDEN'
        | 'RATE_LIMITED'
        | 'QUOTA_EXCEEDED'
        | 'INSUFFICIENT_CREDITS';
      credits: {
        remaining: number | null;
      } | null;
      environment: string | null;
      expires_at: string | null;
      key_id: string | null;
      /** @description Empty unless valid */
      metadata: {
        [key: string]: unknown;
      };
      name: string | null;
      /** @description The account's shared balance after this request, when the owner has limited credits (owner balances) */
      owner_credits?: {
        remaining: number;
      } | null;
      owner_id: string | null;
      /** @description Empty unless valid */
      permissions: string[];
      /** @description Every rate rule of the key (`ratelimit` is the tightest): what the RateLimit and RateLimit-Policy headers of a refusal carry */
      rate_limits?: {
        limit: number;
        /** @description The policy name in the RateLimit headers */
        name: string;
        remaining: number;
        /** @description Seconds until fully replenished */
        reset_after: number;
        /** @description Seconds */
        window: number;
      }[];
      ratelimit: {
        limit: number;
        remaining: number;
        /** @description Epoch ms when the tightest rule is fully replenished */
        reset: number;
      } | null;
      /** @description Seconds, for RATE_LIMITED and QUOTA_EXCEEDED */
      retry_after: number | null;
      /**
       * @description On a refusal: `owner` when the account's shared rate limit, quota or credits refused (owner balances), `key` for the key's own; null when valid
       * @enum {string|null}
       */
      scope?: 'key' | 'owner' | null;
      valid: boolean;
      /** @description Quote it in POST /v1/usage to settle usage-based billing */
      verification_id: string;
    };
  };
  responses: never;
  parameters: never;
  requestBodies: never;
  headers: never;
  pathItems: never;
};
export type $defs = Record<string, never>;
export interface operations {
  liveness: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Up */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "status": "ok",
           *       "version": "0.2.0",
           *       "commit": "9dcdca1f3b6c4d7e8a9b0c1d2e3f405162738495"
           *     }
           */
          'application/json': components['schemas']['Liveness'];
        };
      };
    };
  };
  readiness: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Ready to serve (or degraded but serving) */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "status": "ready"
           *     }
           */
          'application/json': components['schemas']['Readiness'];
        };
      };
      /** @description Not ready: take this node out of rotation */
      503: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "status": "unavailable",
           *       "reason": "database unavailable"
           *     }
           */
          'application/json': components['schemas']['Unavailable'];
        };
      };
    };
  };
  listPlans: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description The plans */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "list",
           *       "data": [
           *         {
           *           "name": "free",
           *           "max_keys": 5
           *         },
           *         {
           *           "name": "pro",
           *           "max_keys": null
           *         }
           *       ],
           *       "default_plan": "free"
           *     }
           */
          'application/json': components['schemas']['PlanList'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  listUsers: {
    parameters: {
      query?: {
        cursor?: string;
        limit?: number;
      };
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description A page of users */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "list",
           *       "data": [
           *         {
           *           "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *           "email": "ada@example.com",
           *           "role": "user",
           *           "plan": "free",
           *           "disabled": false,
           *           "created_at": "2026-06-01T12:00:00.000Z",
           *           "limits": {
           *             "daily": {
           *               "requests": 1000
           *             }
           *           },
           *           "credits": {
           *             "remaining": 4200,
           *             "refill": {
           *               "amount": 5000,
           *               "interval": "monthly"
           *             }
           *           }
           *         }
           *       ],
           *       "next_cursor": null
           *     }
           */
          'application/json': components['schemas']['UserList'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  updateUser: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "limits": {
         *         "rate": [
         *           {
         *             "limit": 100,
         *             "window": "1m"
         *           }
         *         ],
         *         "daily": {
         *           "requests": 1000
         *         }
         *       },
         *       "credits": {
         *         "remaining": 5000,
         *         "refill": {
         *           "amount": 5000,
         *           "interval": "monthly"
         *         }
         *       }
         *     }
         */
        'application/json': {
          /** @description The account's own credits, shared by all its keys and spent after each key's own; `remaining: null` = unlimited */
          credits?: {
            refill?: {
              amount: number;
              /** @enum {unknown} */
              interval: 'daily' | 'monthly';
            } | null;
            /** @description null = unlimited */
            remaining: number | null;
          };
          disabled?: boolean;
          /** @description The account's own rate limits and quotas, shared by all its keys and checked after each key's own; `{}` = none */
          limits?: {
            daily?: {
              amount?: number;
              requests?: number;
            };
            monthly?: {
              amount?: number;
              requests?: number;
            };
            rate?: {
              limit: number;
              /** @description Window such as 1s, 1m, 1h, 1d */
              window: string;
            }[];
          };
          plan?: string;
        };
      };
    };
    responses: {
      /** @description The user as updated */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *       "email": "ada@example.com",
           *       "role": "user",
           *       "plan": "free",
           *       "disabled": false,
           *       "created_at": "2026-06-01T12:00:00.000Z",
           *       "limits": {
           *         "daily": {
           *           "requests": 1000
           *         }
           *       },
           *       "credits": {
           *         "remaining": 4200,
           *         "refill": {
           *           "amount": 5000,
           *           "interval": "monthly"
           *         }
           *       }
           *     }
           */
          'application/json': components['schemas']['User'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  listAuditEntries: {
    parameters: {
      query?: {
        /** @description next_cursor from a previous page */
        cursor?: number;
        limit?: number;
        target_id?: string;
      };
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description A page of entries */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "list",
           *       "data": [
           *         {
           *           "id": 42,
           *           "created_at": "2026-06-01T12:00:00.000Z",
           *           "actor_type": "user",
           *           "actor_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *           "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *           "action": "key.created",
           *           "target_type": "api_key",
           *           "target_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *           "ip": "203.0.113.7",
           *           "details": {
           *             "name": "Production backend",
           *             "environment": "live"
           *           }
           *         }
           *       ],
           *       "next_cursor": null
           *     }
           */
          'application/json': components['schemas']['AuditLog'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  login: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "email": "ada@example.com",
         *       "password": "correct horse battery staple"
         *     }
         */
        'application/json': {
          email: string;
          password: string;
        };
      };
    };
    responses: {
      /** @description Signed in */
      200: {
        headers: {
          /** @description The session cookie: HttpOnly, SameSite=Lax, Path=/, and Secure (named `__Host-keyward_session`) when PUBLIC_URL is https */
          'Set-Cookie'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "user": {
           *         "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *         "email": "ada@example.com",
           *         "role": "user",
           *         "plan": "free",
           *         "disabled": false,
           *         "created_at": "2026-06-01T12:00:00.000Z",
           *         "limits": {
           *           "daily": {
           *             "requests": 1000
           *           }
           *         },
           *         "credits": {
           *           "remaining": 4200,
           *           "refill": {
           *             "amount": 5000,
           *             "interval": "monthly"
           *           }
           *         }
           *       },
           *       "csrf_token": "Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf"
           *     }
           */
          'application/json': components['schemas']['Session'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Too many requests: `error.code` is `too_many_attempts`, `rate_limited`, `quota_exceeded` */
      429: {
        headers: {
          /** @description Seconds to wait before trying again */
          'Retry-After'?: number;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "rate_limited",
           *         "message": "too many requests for this API key; slow down and retry after the Retry-After delay",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Temporarily unavailable: `error.code` is `service_unavailable`, `storage_full` */
      503: {
        headers: {
          /** @description Seconds to wait before trying again */
          'Retry-After'?: number;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "service_unavailable",
           *         "message": "too many password checks in progress; try again shortly",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  logout: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Signed out */
      204: {
        headers: {
          /** @description Clears the session cookie */
          'Set-Cookie'?: string;
          [name: string]: unknown;
        };
        content?: never;
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  getCurrentUser: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description The caller */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "user": {
           *         "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *         "email": "ada@example.com",
           *         "role": "user",
           *         "plan": "free",
           *         "disabled": false,
           *         "created_at": "2026-06-01T12:00:00.000Z",
           *         "limits": {
           *           "daily": {
           *             "requests": 1000
           *           }
           *         },
           *         "credits": {
           *           "remaining": 4200,
           *           "refill": {
           *             "amount": 5000,
           *             "interval": "monthly"
           *           }
           *         }
           *       },
           *       "csrf_token": "Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf",
           *       "ip": "203.0.113.7",
           *       "plan_usage": {
           *         "plan": "free",
           *         "keys_used": 2,
           *         "keys_limit": 5
           *       }
           *     }
           */
          'application/json': components['schemas']['CurrentUser'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  changePassword: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "current_password": "correct horse battery staple",
         *       "new_password": "a longer and newer passphrase"
         *     }
         */
        'application/json': {
          current_password: string;
          new_password: string;
        };
      };
    };
    responses: {
      /** @description Changed; a new session */
      200: {
        headers: {
          /** @description The session cookie: HttpOnly, SameSite=Lax, Path=/, and Secure (named `__Host-keyward_session`) when PUBLIC_URL is https */
          'Set-Cookie'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "csrf_token": "Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf"
           *     }
           */
          'application/json': components['schemas']['CsrfToken'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Too many requests: `error.code` is `too_many_attempts`, `rate_limited`, `quota_exceeded` */
      429: {
        headers: {
          /** @description Seconds to wait before trying again */
          'Retry-After'?: number;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "rate_limited",
           *         "message": "too many requests for this API key; slow down and retry after the Retry-After delay",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Temporarily unavailable: `error.code` is `service_unavailable`, `storage_full` */
      503: {
        headers: {
          /** @description Seconds to wait before trying again */
          'Retry-After'?: number;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "service_unavailable",
           *         "message": "too many password checks in progress; try again shortly",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  signup: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "email": "ada@example.com",
         *       "password": "correct horse battery staple"
         *     }
         */
        'application/json': {
          email: string;
          password: string;
        };
      };
    };
    responses: {
      /** @description Signed in */
      201: {
        headers: {
          /** @description The session cookie: HttpOnly, SameSite=Lax, Path=/, and Secure (named `__Host-keyward_session`) when PUBLIC_URL is https */
          'Set-Cookie'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "user": {
           *         "id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *         "email": "ada@example.com",
           *         "role": "user",
           *         "plan": "free",
           *         "disabled": false,
           *         "created_at": "2026-06-01T12:00:00.000Z",
           *         "limits": {
           *           "daily": {
           *             "requests": 1000
           *           }
           *         },
           *         "credits": {
           *           "remaining": 4200,
           *           "refill": {
           *             "amount": 5000,
           *             "interval": "monthly"
           *           }
           *         }
           *       },
           *       "csrf_token": "Xb3k9Qe1Zr7Tn2Lw5Vy8Pc4Hd6Jm0Sf"
           *     }
           */
          'application/json': components['schemas']['Session'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not possible in the current state: `error.code` is `email_taken`, `invalid_state` */
      409: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "invalid_state",
           *         "message": "a revoked key cannot be changed",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Temporarily unavailable: `error.code` is `service_unavailable`, `storage_full` */
      503: {
        headers: {
          /** @description Seconds to wait before trying again */
          'Retry-After'?: number;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "service_unavailable",
           *         "message": "too many password checks in progress; try again shortly",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  getCurrentKey: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description The key */
      200: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "name": "Production backend",
           *       "environment": "live",
           *       "status": "active",
           *       "permissions": [
           *         "*"
           *       ],
           *       "expires_at": null,
           *       "limits": {
           *         "rate": [
           *           {
           *             "limit": 60,
           *             "window": "1m"
           *           }
           *         ],
           *         "monthly": {
           *           "requests": 100000
           *         }
           *       },
           *       "credits": {
           *         "remaining": null
           *       }
           *     }
           */
          'application/json': components['schemas']['KeyInfo'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          /** @description The RFC 6750 challenge: `Bearer error="invalid_token"` */
          'WWW-Authenticate'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description No credits left: `error.code` is `insufficient_credits` */
      402: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "insufficient_credits",
           *         "message": "this API key has no credits left for this request",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Too many requests: `error.code` is `too_many_attempts`, `rate_limited`, `quota_exceeded` */
      429: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          /** @description Seconds to wait before trying again */
          'Retry-After'?: number;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "rate_limited",
           *         "message": "too many requests for this API key; slow down and retry after the Retry-After delay",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  listKeys: {
    parameters: {
      query?: {
        /** @description Opaque cursor from a previous page */
        cursor?: string;
        environment?: 'live' | 'test';
        limit?: number;
        owner_id?: string;
        search?: string;
        status?: 'active' | 'revoked' | 'expired' | 'disabled';
      };
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description A page of keys */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "list",
           *       "data": [
           *         {
           *           "object": "api_key",
           *           "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *           "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *           "name": "Production backend",
           *           "environment": "live",
           *           "start": "sk_live_3f9a",
           *           "last4": "c41e",
           *           "masked": "sk_live_3f9a…c41e",
           *           "status": "active",
           *           "permissions": [
           *             "*"
           *           ],
           *           "ip_allowlist": [],
           *           "allowed_resources": [],
           *           "expires_at": null,
           *           "enabled": true,
           *           "revoked_at": null,
           *           "created_at": "2026-06-01T12:00:00.000Z",
           *           "updated_at": "2026-06-01T12:00:00.000Z",
           *           "last_used_at": "2026-06-02T08:15:30.000Z",
           *           "usage_count": 1234,
           *           "limits": {
           *             "rate": [
           *               {
           *                 "limit": 60,
           *                 "window": "1m"
           *               }
           *             ],
           *             "monthly": {
           *               "requests": 100000
           *             }
           *           },
           *           "credits": {
           *             "remaining": null
           *           },
           *           "billing": "per_request",
           *           "metadata": {
           *             "customer": "acme"
           *           },
           *           "rotated_from": null,
           *           "rotated_to": null
           *         }
           *       ],
           *       "has_more": false,
           *       "next_cursor": null
           *     }
           */
          'application/json': components['schemas']['ApiKeyList'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  createKey: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "name": "Production backend",
         *       "environment": "live",
         *       "expiration": "90d",
         *       "permissions": [
         *         "*"
         *       ],
         *       "limits": {
         *         "rate": [
         *           {
         *             "limit": 60,
         *             "window": "1m"
         *           }
         *         ],
         *         "monthly": {
         *           "requests": 100000
         *         }
         *       },
         *       "metadata": {
         *         "customer": "acme"
         *       }
         *     }
         */
        'application/json': {
          allowed_resources?: string[];
          /** @enum {unknown} */
          billing?: 'per_request' | 'usage';
          credits?: {
            refill?: {
              amount: number;
              /** @enum {unknown} */
              interval: 'daily' | 'monthly';
            } | null;
            /** @description null = unlimited */
            remaining: number | null;
          };
          /** @enum {unknown} */
          environment?: 'live' | 'test';
          /**
           * @description Preset lifetime; ignored when expires_at is given
           * @enum {unknown}
           */
          expiration?: '30d' | '90d' | '6m' | '1y' | 'never';
          /** Format: date-time */
          expires_at?: string | null;
          /** @description IPv4/IPv6 addresses and CIDR ranges; empty = any address */
          ip_allowlist?: string[];
          /** @description Rate limits, quotas and the largest cost one request may have */
          limits?: {
            daily?: {
              amount?: number;
              requests?: number;
            };
            max_cost_per_request?: number;
            monthly?: {
              amount?: number;
              requests?: number;
            };
            rate?: {
              limit: number;
              /** @description Window such as 1s, 1m, 1h, 1d */
              window: string;
            }[];
          };
          /** @description Any JSON object up to 16 KB */
          metadata?: {
            [key: string]: unknown;
          };
          /** @description 1–100 characters after trimming */
          name: string;
          /** @description Admins and keys:manage tokens only */
          owner_id?: string;
          /** @enum {unknown} */
          permission_preset?: 'full' | 'read_only';
          /** @description resource:action strings; * wildcards */
          permissions?: string[];
        };
      };
    };
    responses: {
      /** @description The new key, with its secret in `key` */
      201: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "api_key",
           *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *       "name": "Production backend",
           *       "environment": "live",
           *       "start": "sk_live_3f9a",
           *       "last4": "c41e",
           *       "masked": "sk_live_3f9a…c41e",
           *       "status": "active",
           *       "permissions": [
           *         "*"
           *       ],
           *       "ip_allowlist": [],
           *       "allowed_resources": [],
           *       "expires_at": null,
           *       "enabled": true,
           *       "revoked_at": null,
           *       "created_at": "2026-06-01T12:00:00.000Z",
           *       "updated_at": "2026-06-01T12:00:00.000Z",
           *       "last_used_at": "2026-06-02T08:15:30.000Z",
           *       "usage_count": 1234,
           *       "limits": {
           *         "rate": [
           *           {
           *             "limit": 60,
           *             "window": "1m"
           *           }
           *         ],
           *         "monthly": {
           *           "requests": 100000
           *         }
           *       },
           *       "credits": {
           *         "remaining": null
           *       },
           *       "billing": "per_request",
           *       "metadata": {
           *         "customer": "acme"
           *       },
           *       "rotated_from": null,
           *       "rotated_to": null,
           *       "key": "sk_live_3f9a8d0b6e2c4a1f9b7d5e3c1a0f8e6d4b2ac41e"
           *     }
           */
          'application/json': components['schemas']['ApiKeyWithSecret'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  getKey: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description The key */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "api_key",
           *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *       "name": "Production backend",
           *       "environment": "live",
           *       "start": "sk_live_3f9a",
           *       "last4": "c41e",
           *       "masked": "sk_live_3f9a…c41e",
           *       "status": "active",
           *       "permissions": [
           *         "*"
           *       ],
           *       "ip_allowlist": [],
           *       "allowed_resources": [],
           *       "expires_at": null,
           *       "enabled": true,
           *       "revoked_at": null,
           *       "created_at": "2026-06-01T12:00:00.000Z",
           *       "updated_at": "2026-06-01T12:00:00.000Z",
           *       "last_used_at": "2026-06-02T08:15:30.000Z",
           *       "usage_count": 1234,
           *       "limits": {
           *         "rate": [
           *           {
           *             "limit": 60,
           *             "window": "1m"
           *           }
           *         ],
           *         "monthly": {
           *           "requests": 100000
           *         }
           *       },
           *       "credits": {
           *         "remaining": null
           *       },
           *       "billing": "per_request",
           *       "metadata": {
           *         "customer": "acme"
           *       },
           *       "rotated_from": null,
           *       "rotated_to": null
           *     }
           */
          'application/json': components['schemas']['ApiKey'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  deleteKey: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Deleted */
      204: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  updateKey: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    /** @description Only these fields may change; anything else is refused with 400 */
    requestBody: {
      content: {
        /**
         * @example {
         *       "name": "Production backend (EU)",
         *       "limits": {
         *         "rate": [
         *           {
         *             "limit": 120,
         *             "window": "1m"
         *           }
         *         ]
         *       }
         *     }
         */
        'application/json': {
          allowed_resources?: string[];
          /** @enum {unknown} */
          billing?: 'per_request' | 'usage';
          credits?: {
            refill?: {
              amount: number;
              /** @enum {unknown} */
              interval: 'daily' | 'monthly';
            } | null;
            /** @description null = unlimited */
            remaining: number | null;
          };
          enabled?: boolean;
          /** Format: date-time */
          expires_at?: string | null;
          /** @description IPv4/IPv6 addresses and CIDR ranges; empty = any address */
          ip_allowlist?: string[];
          /** @description Rate limits, quotas and the largest cost one request may have */
          limits?: {
            daily?: {
              amount?: number;
              requests?: number;
            };
            max_cost_per_request?: number;
            monthly?: {
              amount?: number;
              requests?: number;
            };
            rate?: {
              limit: number;
              /** @description Window such as 1s, 1m, 1h, 1d */
              window: string;
            }[];
          };
          /** @description Any JSON object up to 16 KB */
          metadata?: {
            [key: string]: unknown;
          };
          /** @description 1–100 characters after trimming */
          name?: string;
          /** @description resource:action strings; * wildcards */
          permissions?: string[];
        };
      };
    };
    responses: {
      /** @description The key as updated */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "api_key",
           *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *       "name": "Production backend",
           *       "environment": "live",
           *       "start": "sk_live_3f9a",
           *       "last4": "c41e",
           *       "masked": "sk_live_3f9a…c41e",
           *       "status": "active",
           *       "permissions": [
           *         "*"
           *       ],
           *       "ip_allowlist": [],
           *       "allowed_resources": [],
           *       "expires_at": null,
           *       "enabled": true,
           *       "revoked_at": null,
           *       "created_at": "2026-06-01T12:00:00.000Z",
           *       "updated_at": "2026-06-01T12:00:00.000Z",
           *       "last_used_at": "2026-06-02T08:15:30.000Z",
           *       "usage_count": 1234,
           *       "limits": {
           *         "rate": [
           *           {
           *             "limit": 60,
           *             "window": "1m"
           *           }
           *         ],
           *         "monthly": {
           *           "requests": 100000
           *         }
           *       },
           *       "credits": {
           *         "remaining": null
           *       },
           *       "billing": "per_request",
           *       "metadata": {
           *         "customer": "acme"
           *       },
           *       "rotated_from": null,
           *       "rotated_to": null
           *     }
           */
          'application/json': components['schemas']['ApiKey'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not possible in the current state: `error.code` is `email_taken`, `invalid_state` */
      409: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "invalid_state",
           *         "message": "a revoked key cannot be changed",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  listKeyRequests: {
    parameters: {
      query?: {
        /** @description next_cursor from a previous page */
        cursor?: number;
        limit?: number;
      };
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description A page of requests */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "list",
           *       "data": [
           *         {
           *           "at": "2026-06-01T11:59:58.000Z",
           *           "outcome": "VALID",
           *           "ip": "203.0.113.7",
           *           "method": "GET",
           *           "path": "/v1/key",
           *           "cost": 1
           *         }
           *       ],
           *       "next_cursor": null
           *     }
           */
          'application/json': components['schemas']['RequestLog'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  revokeKey: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description The revoked key */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "api_key",
           *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *       "name": "Production backend",
           *       "environment": "live",
           *       "start": "sk_live_3f9a",
           *       "last4": "c41e",
           *       "masked": "sk_live_3f9a…c41e",
           *       "status": "active",
           *       "permissions": [
           *         "*"
           *       ],
           *       "ip_allowlist": [],
           *       "allowed_resources": [],
           *       "expires_at": null,
           *       "enabled": true,
           *       "revoked_at": null,
           *       "created_at": "2026-06-01T12:00:00.000Z",
           *       "updated_at": "2026-06-01T12:00:00.000Z",
           *       "last_used_at": "2026-06-02T08:15:30.000Z",
           *       "usage_count": 1234,
           *       "limits": {
           *         "rate": [
           *           {
           *             "limit": 60,
           *             "window": "1m"
           *           }
           *         ],
           *         "monthly": {
           *           "requests": 100000
           *         }
           *       },
           *       "credits": {
           *         "remaining": null
           *       },
           *       "billing": "per_request",
           *       "metadata": {
           *         "customer": "acme"
           *       },
           *       "rotated_from": null,
           *       "rotated_to": null
           *     }
           */
          'application/json': components['schemas']['ApiKey'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  rotateKey: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "grace_period": "24h"
         *     }
         */
        'application/json': {
          /** @description How long the old key keeps working: 0, 1h, 24h, 7d … up to 30d (default 0) */
          grace_period?: string;
        };
      };
    };
    responses: {
      /** @description The new key (rotated_from = the old id), with its secret in `key` */
      201: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "api_key",
           *       "id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *       "name": "Production backend",
           *       "environment": "live",
           *       "start": "sk_live_3f9a",
           *       "last4": "c41e",
           *       "masked": "sk_live_3f9a…c41e",
           *       "status": "active",
           *       "permissions": [
           *         "*"
           *       ],
           *       "ip_allowlist": [],
           *       "allowed_resources": [],
           *       "expires_at": null,
           *       "enabled": true,
           *       "revoked_at": null,
           *       "created_at": "2026-06-01T12:00:00.000Z",
           *       "updated_at": "2026-06-01T12:00:00.000Z",
           *       "last_used_at": "2026-06-02T08:15:30.000Z",
           *       "usage_count": 1234,
           *       "limits": {
           *         "rate": [
           *           {
           *             "limit": 60,
           *             "window": "1m"
           *           }
           *         ],
           *         "monthly": {
           *           "requests": 100000
           *         }
           *       },
           *       "credits": {
           *         "remaining": null
           *       },
           *       "billing": "per_request",
           *       "metadata": {
           *         "customer": "acme"
           *       },
           *       "rotated_from": null,
           *       "rotated_to": null,
           *       "key": "sk_live_3f9a8d0b6e2c4a1f9b7d5e3c1a0f8e6d4b2ac41e"
           *     }
           */
          'application/json': components['schemas']['ApiKeyWithSecret'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not possible in the current state: `error.code` is `email_taken`, `invalid_state` */
      409: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "invalid_state",
           *         "message": "a revoked key cannot be changed",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  getKeyUsage: {
    parameters: {
      query?: {
        from?: string;
        granularity?: 'hour' | 'day';
        to?: string;
      };
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description The series */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "key_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "granularity": "day",
           *       "from": "2026-05-02T12:00:00.000Z",
           *       "to": "2026-06-01T12:00:00.000Z",
           *       "data": [
           *         {
           *           "bucket": "2026-06-01",
           *           "requests": 130,
           *           "amount": 120,
           *           "outcomes": {
           *             "VALID": 120,
           *             "RATE_LIMITED": 10
           *           }
           *         }
           *       ]
           *     }
           */
          'application/json': components['schemas']['UsageSeries'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  listTokens: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Your tokens */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "list",
           *       "data": [
           *         {
           *           "object": "token",
           *           "id": "tok_m4x7c2vq9kz3b6wd5th8rn2p",
           *           "name": "CI deploys",
           *           "kind": "management",
           *           "masked": "kwm_9c1e…77b0",
           *           "scopes": [
           *             "keys:read",
           *             "keys:write"
           *           ],
           *           "created_at": "2026-06-01T12:00:00.000Z",
           *           "expires_at": "2026-07-01T12:00:00.000Z",
           *           "last_used_at": null
           *         }
           *       ]
           *     }
           */
          'application/json': components['schemas']['TokenList'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  createToken: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "name": "CI deploys",
         *       "scopes": [
         *         "keys:read",
         *         "keys:write"
         *       ],
         *       "expires_in": "30d"
         *     }
         */
        'application/json': {
          /** @description Lifetime: a key expiration preset (30d, 90d, 6m = six months, 1y, never) or seconds, hours, days or weeks such as 12h; minutes are refused as ambiguous; absent = no expiry */
          expires_in?: string;
          name: string;
          scopes: (
            | 'keys:read'
            | 'keys:write'
            | 'usage:read'
            | 'keys:verify'
            | 'keys:manage'
            | 'users:manage'
          )[];
        };
      };
    };
    responses: {
      /** @description The new token, with its secret in `token` */
      201: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "object": "token",
           *       "id": "tok_m4x7c2vq9kz3b6wd5th8rn2p",
           *       "name": "CI deploys",
           *       "kind": "management",
           *       "masked": "kwm_9c1e…77b0",
           *       "scopes": [
           *         "keys:read",
           *         "keys:write"
           *       ],
           *       "created_at": "2026-06-01T12:00:00.000Z",
           *       "expires_at": "2026-07-01T12:00:00.000Z",
           *       "last_used_at": null,
           *       "token": "kwm_9c1e4b7a2d8f6e0c3b5a9d1f7e2c4b6a8d0f77b0"
           *     }
           */
          'application/json': components['schemas']['TokenWithSecret'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  deleteToken: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        id: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Revoked */
      204: {
        headers: {
          [name: string]: unknown;
        };
        content?: never;
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  getCurrentKeyUsage: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description The key's usage */
      200: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "today_usage": {
           *         "requests": 120,
           *         "amount": 120
           *       },
           *       "month_usage": {
           *         "requests": 4310,
           *         "amount": 4310
           *       }
           *     }
           */
          'application/json': components['schemas']['Usage'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          /** @description The RFC 6750 challenge: `Bearer error="invalid_token"` */
          'WWW-Authenticate'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description No credits left: `error.code` is `insufficient_credits` */
      402: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "insufficient_credits",
           *         "message": "this API key has no credits left for this request",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Too many requests: `error.code` is `too_many_attempts`, `rate_limited`, `quota_exceeded` */
      429: {
        headers: {
          /** @description Per rate rule of the key: what is left and the seconds until the window resets, e.g. `"minute";r=12;t=41` (draft-ietf-httpapi-ratelimit-headers). Absent when the key has no rate rule. */
          RateLimit?: string;
          /** @description Per rate rule of the key: its quota and window in seconds, e.g. `"minute";q=60;w=60`. Absent when the key has no rate rule. */
          'RateLimit-Policy'?: string;
          /** @description Seconds to wait before trying again */
          'Retry-After'?: number;
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "rate_limited",
           *         "message": "too many requests for this API key; slow down and retry after the Retry-After delay",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  settleUsage: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "verification_id": "ver_8c1f6a0d3e9b2c741k",
         *       "amount": 7
         *     }
         */
        'application/json': {
          amount: number;
          key_id?: string;
          verification_id?: string;
        };
      };
    };
    responses: {
      /** @description What was settled, and the balance now */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "key_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "reserved": 10,
           *       "amount": 7,
           *       "adjusted": 3,
           *       "credits": {
           *         "remaining": 993
           *       },
           *       "owner_credits": null
           *     }
           */
          'application/json': components['schemas']['Settlement'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not found: `error.code` is `not_found`, `route_not_found` */
      404: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "not_found",
           *         "message": "API key not found",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not possible in the current state: `error.code` is `email_taken`, `invalid_state` */
      409: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "invalid_state",
           *         "message": "a revoked key cannot be changed",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
  verifyKey: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        /**
         * @example {
         *       "key": "sk_live_3f9a8d0b6e2c4a1f9b7d5e3c1a0f8e6d4b2ac41e",
         *       "permission": "orders:read",
         *       "ip": "203.0.113.7"
         *     }
         */
        'application/json': {
          /** @description Credits and quota amount this request uses (default 1) */
          cost?: number;
          /** @description The end client's IP address; needed when the key has an IP allowlist */
          ip?: string;
          /** @description The API key your caller presented */
          key: string;
          /** @description resource:action the key must hold */
          permission?: string;
          /** @description Must be in the key's allowed_resources */
          resource?: string;
        };
      };
    };
    responses: {
      /** @description The verdict: `valid` and `code` (a refused key is still a 200) */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "valid": true,
           *       "code": "VALID",
           *       "verification_id": "ver_8c1f6a0d3e9b2c741k",
           *       "key_id": "key_q3zt7ml2b4xkd6wv5yhc2njr",
           *       "owner_id": "usr_h5d2pk7wz3mq4xvb6ty2lc7e",
           *       "name": "Production backend",
           *       "environment": "live",
           *       "permissions": [
           *         "*"
           *       ],
           *       "metadata": {
           *         "customer": "acme"
           *       },
           *       "expires_at": null,
           *       "ratelimit": {
           *         "limit": 60,
           *         "remaining": 59,
           *         "reset": 1780315260000
           *       },
           *       "rate_limits": [
           *         {
           *           "name": "minute",
           *           "limit": 60,
           *           "remaining": 59,
           *           "window": 60,
           *           "reset_after": 1
           *         }
           *       ],
           *       "credits": {
           *         "remaining": null
           *       },
           *       "owner_credits": null,
           *       "scope": null,
           *       "retry_after": null
           *     }
           */
          'application/json': components['schemas']['Verification'];
        };
      };
      /** @description The request is not valid: `error.code` is `validation_error`, `invalid_json`, `unknown_field`, `request_incomplete` */
      400: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "validation_error",
           *         "message": "body/name must NOT have fewer than 1 characters",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not authenticated: `error.code` is `unauthorized`, `invalid_credentials`, `session_expired`, `key_not_found`, `key_revoked`, `key_expired`, `key_disabled` */
      401: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unauthorized",
           *         "message": "sign in or send a token",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description Not allowed: `error.code` is `forbidden`, `ip_not_allowed`, `csrf_failed`, `account_disabled`, `plan_limit_reached` */
      403: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "forbidden",
           *         "message": "this needs the keys:write scope",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is larger than BODY_LIMIT: `error.code` is `payload_too_large` */
      413: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "payload_too_large",
           *         "message": "request body is too large",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description The request body is not JSON: `error.code` is `unsupported_media_type` */
      415: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "unsupported_media_type",
           *         "message": "send the body as application/json",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
      /** @description An unexpected error on the server: `error.code` is `internal_error` */
      500: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          /**
           * @example {
           *       "error": {
           *         "code": "internal_error",
           *         "message": "internal error",
           *         "request_id": "req_5f0c6a2e9b1d4c7a0000000000000001"
           *       }
           *     }
           */
          'application/json': components['schemas']['Error'];
        };
      };
    };
  };
}
