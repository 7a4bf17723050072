import type { Generated } from 'kysely';

/**
 * What every row holds. Times are milliseconds since the epoch (bigint in PostgreSQL, integer in
 * SQLite); booleans are 0/1; JSON values are text, so both dialects read and write them alike.
 */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  tokens: TokensTable;
  audit_log: AuditLogTable;
  usage_daily: UsageDailyTable;
  usage_hourly: UsageHourlyTable;
  request_log: RequestLogTable;
  credit_reservations: CreditReservationsTable;
}

export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  role: 'user' | 'admin';
  plan: string;
  disabled: number;
  created_at: number;
  updated_at: number;
}

export interface SessionsTable {
  /** SHA-256 of the session id; the id itself is only ever in the user's cookie. */
  id_hash: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ip: string | null;
  user_agent: string | null;
}

export interface ApiKeysTable {
  id: string;
  owner_id: string;
  name: string;
  environment: string;
  hash: string;
  start: string;
  last4: string;
  permissions: string;
  ip_allowlist: string;
  allowed_resources: string;
  expires_at: number | null;
  enabled: number;
  revoked_at: number | null;
  created_at: number;
  updated_at: number;
  last_used_at: number | null;
  usage_count: number;
  limits: string;
  credits_remaining: number | null;
  credits_refill: string | null;
  /** The refill period (`2026-06-01` daily, `2026-06` monthly) the balance was last refilled for. */
  credits_refill_period: string | null;
  billing: 'per_request' | 'usage';
  metadata: string;
  rotated_from: string | null;
  rotated_to: string | null;
}

export interface TokensTable {
  id: string;
  owner_id: string;
  kind: 'management' | 'service';
  name: string;
  hash: string;
  start: string;
  last4: string;
  scopes: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

export interface AuditLogTable {
  seq: Generated<number>;
  created_at: number;
  actor_type: 'user' | 'token' | 'cli' | 'system' | 'anonymous';
  actor_id: string | null;
  /** The account the entry belongs to: what `GET /v1/audit-log` filters on. */
  owner_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: string;
}

/** Outcome of one attributable request: `VALID` or the refusal code. */
export type UsageOutcome =
  | 'VALID'
  | 'REVOKED'
  | 'EXPIRED'
  | 'DISABLED'
  | 'IP_NOT_ALLOWED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'INSUFFICIENT_CREDITS';

export interface UsageDailyTable {
  key_id: string;
  owner_id: string;
  /** Calendar day in the deployment's time zone, `YYYY-MM-DD`. */
  day: string;
  outcome: UsageOutcome;
  requests: number;
  /** Summed cost of the requests (valid ones are charged; refused ones record what they asked). */
  amount: number;
}

export interface UsageHourlyTable {
  key_id: string;
  owner_id: string;
  /** Start of the UTC hour, epoch ms. */
  hour: number;
  outcome: UsageOutcome;
  requests: number;
  amount: number;
}

export interface RequestLogTable {
  seq: Generated<number>;
  key_id: string;
  owner_id: string;
  at: number;
  outcome: UsageOutcome;
  ip: string | null;
  method: string | null;
  path: string | null;
  cost: number;
}

/** A usage-billing reservation made at verify time, settled once by `POST /v1/usage`. */
export interface CreditReservationsTable {
  id: string;
  key_id: string;
  reserved: number;
  created_at: number;
  settled_at: number | null;
}
