import { maskKey } from '../core/api-key.ts';
import { keyStatus } from '../core/key-status.ts';
import type { ApiKey, AuditEntry, Token, User } from '../core/models.ts';

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
