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
  events: EventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  event_occurrences: EventOccurrencesTable;
  notification_settings: NotificationSettingsTable;
  invitations: InvitationsTable;
  password_resets: PasswordResetsTable;
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
  /** The account's own limits (JSON, shared by all its keys); null = none. */
  limits: string | null;
  /** The account's own credit balance, shared by all its keys; null = unlimited. */
  credits_remaining: number | null;
  credits_refill: string | null;
  /** The refill period the account's balance was last refilled for. */
  credits_refill_period: string | null;
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
  /** The balance the credits were last set to (not by a refill); the base of credit thresholds. */
  credits_granted: number | null;
  credits_granted_at: number | null;
  /** The refill period the balance was last set in; a later credits_refill_period is a refill. */
  credits_set_period: string | null;
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
  /** Set when the reservation debited the key owner's credits too (owner balances). */
  owner_id: string | null;
}

/** The outbox: one row per event, written in the transaction of the change that caused it. */
export interface EventsTable {
  seq: Generated<number>;
  id: string;
  type: string;
  owner_id: string | null;
  key_id: string | null;
  /** The whole event as sent: `{"type", "timestamp", "data"}`, JSON. Never a secret. */
  payload: string;
  created_at: number;
  webhooks_done_at: number | null;
  mail_done_at: number | null;
  /** Failed mail attempts so far (the mailer gives up after a few). */
  mail_attempts: Generated<number>;
  /** A node's claim on mailing the event: no other node takes it before this instant. */
  mail_claimed_until: number | null;
}

export interface WebhookEndpointsTable {
  id: string;
  owner_id: string | null;
  scope: 'account' | 'deployment';
  url: string;
  description: string;
  /** JSON list of event types, `["*"]` for all. */
  events: string;
  /** The signing secret, encrypted (never plain text). */
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  enabled: number;
  disabled_reason: string | null;
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: 'pending' | 'succeeded' | 'dead';
  attempts: Generated<number>;
  next_attempt_at: number | null;
  claimed_until: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

export interface WebhookAttemptsTable {
  seq: Generated<number>;
  delivery_id: string;
  attempted_at: number;
  url: string;
  /** JSON object of the request headers sent. */
  request_headers: string;
  status: number | null;
  response_excerpt: string | null;
  duration_ms: number;
  error: string | null;
  next_attempt_at: number | null;
}

export interface EventOccurrencesTable {
  subject_id: string;
  kind: string;
  period: string;
  created_at: number;
}

export interface NotificationSettingsTable {
  user_id: string;
  kind: string;
  email: number;
  updated_at: number;
}

/** An invitation to create an account (SIGNUP=invite or open); single use. */
export interface InvitationsTable {
  id: string;
  /** SHA-256 of the one-time token in the invitation link; the token itself is never stored. */
  token_hash: string;
  /** The only email the account may be created with; null = the invitee chooses. */
  email: string | null;
  role: 'user' | 'admin';
  plan: string;
  /** The admin (user id) who created it; null when made with the CLI. */
  created_by: string | null;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  accepted_user_id: string | null;
  revoked_at: number | null;
}

/** A one-time password-reset link (1 hour, single use). */
export interface PasswordResetsTable {
  id: string;
  /** SHA-256 of the one-time token in the reset link; the token itself is never stored. */
  token_hash: string;
  user_id: string;
  /** How the link was handed out: printed by the CLI, or mailed after "Forgot password?". */
  requested_via: 'cli' | 'email';
  created_at: number;
  expires_at: number;
  used_at: number | null;
}
