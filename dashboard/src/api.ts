// The dashboard's only way to the server: the public HTTP API under /v1, with the session cookie
// (sent by the browser) and the CSRF token on every write.

/** One of the deployment's ENVIRONMENTS (Me.environments lists them, the default first). */
export type Environment = string;
export type KeyStatus = 'active' | 'revoked' | 'expired' | 'disabled';
export type Billing = 'per_request' | 'usage';

export interface RateRule {
  limit: number;
  window: string;
}
export interface Quota {
  requests?: number;
  amount?: number;
}
export interface Limits {
  rate?: RateRule[];
  daily?: Quota;
  monthly?: Quota;
  max_cost_per_request?: number;
}
export interface Credits {
  remaining: number | null;
  refill?: { amount: number; interval: 'daily' | 'monthly' } | null;
}
/** An account's own limits, shared by all its keys (owner balances). */
export type OwnerLimits = Pick<Limits, 'rate' | 'daily' | 'monthly'>;

export interface ApiKey {
  object: 'api_key';
  id: string;
  owner_id: string;
  name: string;
  environment: Environment;
  start: string;
  last4: string;
  masked: string;
  status: KeyStatus;
  permissions: string[];
  ip_allowlist: string[];
  allowed_resources: string[];
  expires_at: string | null;
  enabled: boolean;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
  usage_count: number;
  limits: Limits;
  credits: Credits;
  billing: Billing;
  metadata: Record<string, unknown>;
  rotated_from: string | null;
  rotated_to: string | null;
}

export interface CreatedKey extends ApiKey {
  key: string;
}

/** A key as GET /v1/keys lists it: when its rate limits are full again, null without a rule. */
export interface ListedKey extends ApiKey {
  rate_limit_reset_at: string | null;
}

export interface KeyList {
  object: 'list';
  data: ListedKey[];
  has_more: boolean;
  next_cursor: string | null;
  total_count: number;
}

export interface User {
  id: string;
  email: string;
  role: 'user' | 'admin';
  plan: string;
  disabled: boolean;
  created_at: string;
  limits: OwnerLimits;
  credits: Credits;
}

export interface Me {
  user: User;
  csrf_token: string | null;
  ip: string;
  plan_usage: { plan: string; keys_used: number; keys_limit: number | null };
  environments: Environment[];
}

export type Scope =
  | 'keys:read'
  | 'keys:write'
  | 'usage:read'
  | 'webhooks:manage'
  | 'keys:verify'
  | 'keys:manage'
  | 'users:manage'
  | 'leaks:report';

export interface Token {
  object: 'token';
  id: string;
  name: string;
  kind: 'management' | 'service';
  masked: string;
  scopes: Scope[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface CreatedToken extends Token {
  token: string;
}

export interface AuditEntry {
  id: number;
  created_at: string;
  actor_type: string;
  actor_id: string | null;
  owner_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  actor_name: string | null;
  target_name: string | null;
  target_exists: boolean;
}

export interface WebhookEndpoint {
  object: 'webhook_endpoint';
  id: string;
  scope: 'account' | 'deployment';
  owner_id: string | null;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface CreatedWebhookEndpoint extends WebhookEndpoint {
  secret: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'dead';

export interface WebhookDelivery {
  object: 'webhook_delivery';
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  last_response_excerpt: string | null;
  last_duration_ms: number | null;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
}

export interface WebhookAttempt {
  attempted_at: string;
  url: string;
  request_headers: Record<string, string>;
  status: number | null;
  response_excerpt: string | null;
  duration_ms: number;
  error: string | null;
  next_attempt_at: string | null;
}

export interface WebhookDeliveryDetail extends WebhookDelivery {
  attempt_log: WebhookAttempt[];
}

export interface UsagePoint {
  bucket: string;
  requests: number;
  amount: number;
  outcomes: Record<string, number>;
}

export interface UsageSeries {
  key_id: string;
  granularity: 'hour' | 'day';
  from: string;
  to: string;
  data: UsagePoint[];
}

export interface LoggedRequest {
  at: string;
  outcome: string;
  ip: string | null;
  method: string | null;
  path: string | null;
  cost: number;
}

export interface Page<T, C = number> {
  object: 'list';
  data: T[];
  next_cursor: C | null;
}

export interface Plan {
  name: string;
  max_keys: number | null;
}

export interface AuthOptions {
  signup: 'open' | 'invite' | 'closed';
  password_reset_by_email: boolean;
}

export interface Invitation {
  object: 'invitation';
  id: string;
  email: string | null;
  role: 'user' | 'admin';
  plan: string;
  status: 'pending' | 'accepted' | 'revoked' | 'expired';
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
  accepted_user_id: string | null;
  revoked_at: string | null;
}

export interface CreatedInvitation extends Invitation {
  url: string;
  mailed: boolean;
}

/** An error answer of the API (or a network failure), with a message meant for a person. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  /** The server's own wording, for the cases where the friendly message hides a detail. */
  readonly serverMessage: string;
  /** The request field the error is about (`ip_allowlist`, `limits.rate[0].limit`), if one. */
  readonly param: string | null;

  constructor(
    status: number,
    code: string,
    serverMessage: string,
    requestId: string | null,
    param: string | null = null,
  ) {
    super(friendlyMessage(status, code, serverMessage, requestId));
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.serverMessage = serverMessage;
    this.requestId = requestId;
    this.param = param;
  }
}

/** "the free plan allows 2 active keys; revoke…" → "The free plan allows 2 active keys; revoke…." */
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return trimmed;
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** Turns an API error into words a person understands, keeping the server's detail where useful. */
export function friendlyMessage(
  status: number,
  code: string,
  message: string,
  requestId: string | null,
): string {
  switch (code) {
    case 'network':
      return 'Keyward could not be reached. Check your connection and try again.';
    case 'invalid_credentials':
      return message.includes('current')
        ? 'Your current password is not correct.'
        : 'That email and password do not match an account.';
    case 'email_taken':
      return 'An account with this email already exists. Sign in instead.';
    case 'too_many_attempts':
      return message.includes('login')
        ? 'Too many failed sign-in attempts. Wait a few minutes, then try again.'
        : 'Too many attempts. Wait a few minutes, then try again.';
    case 'invalid_link':
      return 'This link does not work any more: it may have expired or been used already.';
    case 'signup_closed':
      return 'This Keyward server does not take new accounts. Ask its operator for one.';
    case 'invitation_required':
      return 'Accounts on this Keyward server are by invitation only. Open the link of your invitation.';
    case 'mail_not_configured':
      return 'This server cannot send email. Ask its operator for a password-reset link.';
    case 'account_disabled':
      return 'This account is disabled. Contact the operator of this Keyward server.';
    case 'session_expired':
    case 'unauthorized':
      return 'Your session has ended. Sign in again to continue.';
    case 'csrf_failed':
      return 'This page is out of date with your session. Reload the page and try again.';
    case 'plan_limit_reached':
      // The server says "the free plan allows 2 active keys; revoke or delete one, or upgrade …".
      return `You have reached your plan's key limit. ${sentence(message.split(';')[0] ?? message)} Revoke or delete a key you no longer need, or ask your operator for a bigger plan.`;
    case 'not_found':
      return sentence(message);
    case 'invalid_state':
      return sentence(message);
    case 'forbidden':
      return `You are not allowed to do this: ${sentence(message).replace(/^./, (c) => c.toLowerCase())}`;
    case 'validation_error':
    case 'unknown_field':
    case 'invalid_json':
      return `Please check the form: ${sentence(message.replace(/^body\/?/, '')).replace(/^./, (c) => c.toLowerCase())}`;
    case 'payload_too_large':
      return 'That is too much data for one request (metadata may be at most 16 KB).';
    case 'rate_limited':
    case 'quota_exceeded':
      return 'Too many requests right now. Wait a moment and try again.';
    case 'service_unavailable':
      return 'The Keyward database is unavailable at the moment. Try again shortly.';
    default:
      if (status >= 500)
        return `Something went wrong on the server. Try again; if it keeps happening, give your operator this reference: ${requestId ?? 'none'}.`;
      return sentence(message) || 'The request failed.';
  }
}

let csrfToken: string | null = null;
let sessionLost: ((error: ApiError) => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a request that needed the session was refused with 401 (the session ended). */
export function onSessionLost(handler: ((error: ApiError) => void) | null): void {
  sessionLost = handler;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  /** Don't report a 401 as a lost session (sign-in, sign-up and the first /me). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(
  method: Method,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined && { body: JSON.stringify(body) }),
      ...(options.signal !== undefined && { signal: options.signal }),
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'network', String(error), null);
  }
  if (response.status === 204) return undefined as T;
  let payload: unknown = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = (
      payload as {
        error?: { code?: string; message?: string; request_id?: string; param?: string };
      }
    )?.error;
    const apiError = new ApiError(
      response.status,
      error?.code ?? (response.status >= 500 ? 'internal_error' : 'unknown'),
      error?.message ?? response.statusText,
      error?.request_id ?? null,
      error?.param ?? null,
    );
    // A wrong current password is a 401 too (invalid_credentials): only these mean "signed out".
    const signedOut = apiError.code === 'session_expired' || apiError.code === 'unauthorized';
    if (response.status === 401 && signedOut && !options.anonymous && sessionLost !== null)
      sessionLost(apiError);
    throw apiError;
  }
  return payload as T;
}

/** The kinds of mail an account can switch off. */
export type MailKind = 'key.expiring' | 'key.leaked' | 'usage.threshold';

export interface NotificationSettings {
  /** False when the server has no SMTP_URL / MAIL_FROM: nothing is sent whatever the switches. */
  mail_configured: boolean;
  email: Record<MailKind, boolean>;
}

export interface ListKeysQuery {
  /** Your own id: an admin would otherwise list every account's keys. */
  owner_id?: string;
  status?: KeyStatus;
  environment?: Environment;
  search?: string;
  cursor?: string;
  limit?: number;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

const id = (value: string) => encodeURIComponent(value);

export const api = {
  me: (options?: RequestOptions) => request<Me>('GET', '/v1/auth/me', undefined, options),
  signup: (email: string, password: string) =>
    request<{ user: User; csrf_token: string }>(
      'POST',
      '/v1/auth/signup',
      { email, password },
      { anonymous: true },
    ),
  login: (email: string, password: string) =>
    request<{ user: User; csrf_token: string }>(
      'POST',
      '/v1/auth/login',
      { email, password },
      { anonymous: true },
    ),
  logout: () => request<void>('POST', '/v1/auth/logout', undefined, { anonymous: true }),
  /** The change renews the session: the answer carries the new session's CSRF token. */
  changePassword: (current_password: string, new_password: string) =>
    request<{ csrf_token: string }>('POST', '/v1/auth/password', {
      current_password,
      new_password,
    }),

  notifications: () => request<NotificationSettings>('GET', '/v1/account/notifications'),
  updateNotifications: (changes: Partial<Record<MailKind, boolean>>) =>
    request<NotificationSettings>('PATCH', '/v1/account/notifications', changes),

  listKeys: (q: ListKeysQuery, signal?: AbortSignal) =>
    request<KeyList>('GET', `/v1/keys${query({ ...q })}`, undefined, signal ? { signal } : {}),
  getKey: (keyId: string) => request<ApiKey>('GET', `/v1/keys/${id(keyId)}`),
  createKey: (body: Record<string, unknown>) => request<CreatedKey>('POST', '/v1/keys', body),
  updateKey: (keyId: string, body: Record<string, unknown>) =>
    request<ApiKey>('PATCH', `/v1/keys/${id(keyId)}`, body),
  revokeKey: (keyId: string) => request<ApiKey>('POST', `/v1/keys/${id(keyId)}/revoke`),
  rotateKey: (keyId: string, grace_period: string) =>
    request<CreatedKey>('POST', `/v1/keys/${id(keyId)}/rotate`, { grace_period }),
  deleteKey: (keyId: string) => request<void>('DELETE', `/v1/keys/${id(keyId)}`),
  usage: (keyId: string, q: { from?: string; to?: string; granularity?: 'hour' | 'day' }) =>
    request<UsageSeries>('GET', `/v1/keys/${id(keyId)}/usage${query(q)}`),
  logs: (keyId: string, cursor?: number) =>
    request<Page<LoggedRequest>>(
      'GET',
      `/v1/keys/${id(keyId)}/logs${query({ limit: 25, cursor })}`,
    ),

  listWebhooks: () => request<{ object: 'list'; data: WebhookEndpoint[] }>('GET', '/v1/webhooks'),
  getWebhook: (endpointId: string) =>
    request<WebhookEndpoint>('GET', `/v1/webhooks/${id(endpointId)}`),
  createWebhook: (body: {
    url: string;
    events: string[];
    description?: string;
    scope?: 'account' | 'deployment';
  }) => request<CreatedWebhookEndpoint>('POST', '/v1/webhooks', body),
  updateWebhook: (
    endpointId: string,
    body: { url?: string; events?: string[]; description?: string; enabled?: boolean },
  ) => request<WebhookEndpoint>('PATCH', `/v1/webhooks/${id(endpointId)}`, body),
  deleteWebhook: (endpointId: string) => request<void>('DELETE', `/v1/webhooks/${id(endpointId)}`),
  rotateWebhookSecret: (endpointId: string, overlap: string) =>
    request<CreatedWebhookEndpoint>('POST', `/v1/webhooks/${id(endpointId)}/rotate-secret`, {
      overlap,
    }),
  webhookDeliveries: (
    endpointId: string,
    q: { status?: DeliveryStatus; cursor?: string; limit?: number } = {},
  ) =>
    request<{
      object: 'list';
      data: WebhookDelivery[];
      has_more: boolean;
      next_cursor: string | null;
    }>('GET', `/v1/webhooks/${id(endpointId)}/deliveries${query(q)}`),
  webhookDelivery: (endpointId: string, deliveryId: string) =>
    request<WebhookDeliveryDetail>(
      'GET',
      `/v1/webhooks/${id(endpointId)}/deliveries/${id(deliveryId)}`,
    ),
  retryWebhookDelivery: (endpointId: string, deliveryId: string) =>
    request<WebhookDelivery>(
      'POST',
      `/v1/webhooks/${id(endpointId)}/deliveries/${id(deliveryId)}/retry`,
    ),
  testWebhook: (endpointId: string) =>
    request<WebhookDelivery>('POST', `/v1/webhooks/${id(endpointId)}/test`),

  listTokens: () => request<{ object: 'list'; data: Token[] }>('GET', '/v1/tokens'),
  createToken: (body: { name: string; scopes: Scope[]; expires_in?: string }) =>
    request<CreatedToken>('POST', '/v1/tokens', body),
  deleteToken: (tokenId: string) => request<void>('DELETE', `/v1/tokens/${id(tokenId)}`),

  auditLog: (cursor?: number) =>
    request<Page<AuditEntry>>('GET', `/v1/audit-log${query({ limit: 50, cursor })}`),

  listUsers: (cursor?: string) =>
    request<Page<User, string>>('GET', `/v1/admin/users${query({ limit: 50, cursor })}`),
  updateUser: (
    userId: string,
    body: { plan?: string; disabled?: boolean; limits?: OwnerLimits; credits?: Credits },
  ) => request<User>('PATCH', `/v1/admin/users/${id(userId)}`, body),
  authOptions: () =>
    request<AuthOptions>('GET', '/v1/auth/options', undefined, { anonymous: true }),
  forgotPassword: (email: string) =>
    request<{ message: string }>(
      'POST',
      '/v1/auth/forgot-password',
      { email },
      { anonymous: true },
    ),
  resetPassword: (token: string, new_password: string) =>
    request<void>('POST', '/v1/auth/password-reset', { token, new_password }, { anonymous: true }),
  lookupInvitation: (token: string) =>
    request<Invitation>('POST', '/v1/auth/invitations/lookup', { token }, { anonymous: true }),
  acceptInvitation: (body: { token: string; email?: string; password: string }) =>
    request<{ user: User; csrf_token: string }>('POST', '/v1/auth/invitations/accept', body, {
      anonymous: true,
    }),
  listInvitations: (cursor?: string) =>
    request<Page<Invitation, string>>(
      'GET',
      `/v1/admin/invitations${query({ limit: 50, cursor })}`,
    ),
  createInvitation: (body: {
    email?: string;
    role?: 'user' | 'admin';
    plan?: string;
    expires_in?: string;
  }) => request<CreatedInvitation>('POST', '/v1/admin/invitations', body),
  revokeInvitation: (invitationId: string) =>
    request<void>('DELETE', `/v1/admin/invitations/${id(invitationId)}`),
  plans: () =>
    request<{ object: 'list'; data: Plan[]; default_plan: string }>('GET', '/v1/admin/plans'),
};
