/**
 * The closed catalogue of error codes the API can answer with, and the one place that maps
 * each code to its HTTP status. Failed verifications are results (see verify-codes.ts), not
 * errors; these are for requests that cannot be served.
 */
export const ERROR_STATUS = {
  validation_error: 400,
  /** An invitation or password-reset link that is unknown, expired, revoked or already used. */
  invalid_link: 400,
  invalid_json: 400,
  unknown_field: 400,
  /** The client went away (or was cut by the request timeout) before the request arrived whole. */
  request_incomplete: 400,
  /** A webhook URL that is not http(s), carries credentials, or points at a refused address. */
  url_not_allowed: 400,
  /** POST /v1/keys/import (and the CLI): some items are refused, `error.items` says why; nothing was imported. */
  import_refused: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  session_expired: 401,
  key_not_found: 401,
  key_revoked: 401,
  key_expired: 401,
  key_disabled: 401,
  insufficient_credits: 402,
  forbidden: 403,
  ip_not_allowed: 403,
  csrf_failed: 403,
  account_disabled: 403,
  plan_limit_reached: 403,
  /** SIGNUP=closed: no account is created from the sign-in page, nor from an invitation. */
  signup_closed: 403,
  /** SIGNUP=invite: an account is created only from an invitation link. */
  invitation_required: 403,
  /** Password reset by email was asked for, but this deployment has no mail (SMTP_URL) set up. */
  mail_not_configured: 403,
  not_found: 404,
  /** Gateway mode: no rule of the routes file matches the method and path (deny by default). */
  route_not_found: 404,
  method_not_allowed: 405,
  email_taken: 409,
  invalid_state: 409,
  /** The request did not arrive whole within REQUEST_TIMEOUT (or its headers within HEADERS_TIMEOUT). */
  request_timeout: 408,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_attempts: 429,
  rate_limited: 429,
  quota_exceeded: 429,
  /** The request's headers are larger than Node's limit (16 KB by default). */
  headers_too_large: 431,
  internal_error: 500,
  /** Gateway mode: the upstream could not be reached, or broke off its answer. */
  upstream_unavailable: 502,
  service_unavailable: 503,
  /** Gateway mode: the upstream did not answer within GATEWAY_TIMEOUT. */
  upstream_timeout: 504,
  /** The database has no room left to write (disk full); reads still work. */
  storage_full: 503,
  /** Webhooks on PostgreSQL need SECRET_ENCRYPTION_KEY, which this deployment has not set. */
  encryption_key_missing: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** The request field the error is about (`ip_allowlist`, `limits.rate[0].limit`), if one. */
  readonly param: string | undefined;
  /** A refused verification: whether the key's own limit or its owner's shared one refused. */
  scope: 'key' | 'owner' | undefined;

  constructor(code: ErrorCode, message: string, headers?: Record<string, string>, param?: string) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = headers;
    this.param = param;
    this.scope = undefined;
  }
}

/** Why one item of an import was refused. */
export interface ItemError {
  index: number;
  code: ErrorCode;
  message: string;
}

/** An import refused as a whole because of the items listed. */
export class ImportRefusedError extends AppError {
  readonly items: readonly ItemError[];

  constructor(items: readonly ItemError[], total: number) {
    super(
      'import_refused',
      `${items.length} of ${total} items are refused (see error.items); nothing was imported`,
    );
    this.items = items;
  }
}

/** A validation error about one request field, which a form can show beside that field. */
export function fieldError(param: string, message: string): AppError {
  return new AppError('validation_error', message, undefined, param);
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
