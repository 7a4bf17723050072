import { maskKey } from '../core/api-key.ts';
import { keyStatus } from '../core/key-status.ts';
import type { ApiKey, AuditEntry, Token, User } from '../core/models.ts';
import type { AccountData } from '../services/accounts.ts';
import type { EntryNames } from '../services/audit.ts';
import type { Invitation } from '../services/invitations.ts';

export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function keyView(key: ApiKey, now: number) {
  return {
    object: 'api_key' as const,
    id: key.id,
    owner_id: key.ownerId,
    name: key.name,
    environment: key.environment,
    start: key.start,
    last4: key.last4,
    masked: maskKey(key.start, key.last4),
    status: keyStatus(key, now),
    permissions: key.permissions,
    ip_allowlist: key.ipAllowlist,
    allowed_resources: key.allowedResources,
    expires_at: iso(key.expiresAt),
    enabled: key.enabled,
    revoked_at: iso(key.revokedAt),
    created_at: iso(key.createdAt),
    updated_at: iso(key.updatedAt),
    last_used_at: iso(key.lastUsedAt),
    usage_count: key.usageCount,
    limits: key.limits,
    credits: key.credits,
    billing: key.billing,
    metadata: key.metadata,
    rotated_from: key.rotatedFrom,
    rotated_to: key.rotatedTo,
  };
}

export function userView(user: User) {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    plan: user.plan,
    disabled: user.disabled,
    created_at: iso(user.createdAt),
    limits: user.limits,
    credits: user.credits,
  };
}

export function tokenView(token: Token) {
  return {
    object: 'token' as const,
    id: token.id,
    name: token.name,
    kind: token.kind,
    masked: maskKey(token.start, token.last4),
    scopes: token.scopes,
    created_at: iso(token.createdAt),
    expires_at: iso(token.expiresAt),
    last_used_at: iso(token.lastUsedAt),
  };
}

export function auditView(entry: AuditEntry) {
  return {
    id: entry.seq,
    created_at: iso(entry.createdAt),
    actor_type: entry.actorType,
    actor_id: entry.actorId,
    owner_id: entry.ownerId,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    ip: entry.ip,
    details: entry.details,
  };
}

/** Parses an RFC 3339 time from a request; undefined when it is not one. */
export function parseTime(text: string): number | undefined {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

export function invitationView(invitation: Invitation) {
  return {
    object: 'invitation' as const,
    id: invitation.id,
    email: invitation.email,
    role: invitation.role,
    plan: invitation.plan,
    status: invitation.status,
    created_at: iso(invitation.createdAt),
    expires_at: iso(invitation.expiresAt),
    accepted_at: iso(invitation.acceptedAt),
    accepted_user_id: invitation.acceptedUserId,
    revoked_at: iso(invitation.revokedAt),
  };
}

/** An entry with the names of its actor and target (`namesForEntries`). */
export function namedAuditView(entry: AuditEntry, names: EntryNames) {
  const target = entry.targetId === null ? undefined : names.targets.get(entry.targetId);
  return {
    ...auditView(entry),
    actor_name: entry.actorId === null ? null : (names.actors.get(entry.actorId) ?? null),
    target_name: target?.name ?? null,
    target_exists: target?.exists ?? entry.targetId !== null,
  };
}

/** An audit entry as the account's owner sees it: an administrator's entries without who or where. */
export function ownerAuditView(entry: AuditEntry, byAdministrator: boolean, names: EntryNames) {
  const view = namedAuditView(entry, names);
  return byAdministrator
    ? { ...view, actor_type: 'administrator', actor_id: null, actor_name: null, ip: null }
    : view;
}

/** The names an export's audit entries show, from the export itself (its keys, tokens, account). */
function exportNames(data: AccountData): EntryNames {
  const targets: EntryNames['targets'] = new Map();
  for (const entry of data.audit) {
    const name = entry.details.name;
    if (entry.targetId !== null && typeof name === 'string' && /^(key|tok)_/.test(entry.targetId))
      targets.set(entry.targetId, { name, exists: false });
  }
  for (const item of [...data.keys, ...data.tokens])
    targets.set(item.id, { name: item.name, exists: true });
  targets.set(data.user.id, { name: data.user.email, exists: true });
  const actors: EntryNames['actors'] = new Map([[data.user.id, data.user.email]]);
  for (const token of data.tokens) actors.set(token.id, token.name);
  return { actors, targets };
}

/** `GET /v1/account/export` and `keyward user export`: the same document. */
export function accountExportView(data: AccountData) {
  const names = exportNames(data);
  return {
    object: 'account_export' as const,
    exported_at: iso(data.exportedAt),
    account: userView(data.user),
    keys: data.keys.map((key) => keyView(key, data.exportedAt)),
    tokens: data.tokens.map(tokenView),
    usage_daily: data.usage.map((u) => ({
      key_id: u.keyId,
      day: u.day,
      outcome: u.outcome,
      requests: u.requests,
      amount: u.amount,
    })),
    audit_log: data.audit.map((entry) =>
      ownerAuditView(entry, data.byAdministrator.has(entry.seq), names),
    ),
  };
}
