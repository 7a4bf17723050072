import type { Environment } from './api-key.ts';
import type { Scope, TokenKind } from './token.ts';

export type Role = 'user' | 'admin';

export interface User {
  id: string;
  email: string;
  role: Role;
  plan: string;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** Limits shared by all the account's keys (owner balances); `{}` = none. */
  limits: OwnerLimits;
  /** Credits shared by all the account's keys; `remaining: null` = unlimited. */
  credits: Credits;
}

export interface RateLimitRule {
  limit: number;
  /** `Ns`, `Nm`, `Nh` or `Nd`. */
  window: string;
}

export interface PeriodQuota {
  requests?: number;
  amount?: number;
}

export interface KeyLimits {
  rate?: RateLimitRule[];
  daily?: PeriodQuota;
  monthly?: PeriodQuota;
  max_cost_per_request?: number;
}

/** An account's own limits: the rate and quota parts of a key's, checked after the key's. */
export type OwnerLimits = Pick<KeyLimits, 'rate' | 'daily' | 'monthly'>;

export interface CreditsRefill {
  amount: number;
  interval: 'daily' | 'monthly';
}

export interface Credits {
  /** `null` = unlimited. */
  remaining: number | null;
  refill: CreditsRefill | null;
}

export type Billing = 'per_request' | 'usage';

export interface ApiKey {
  id: string;
  ownerId: string;
  name: string;
  environment: Environment;
  hash: string;
  start: string;
  last4: string;
  permissions: string[];
  ipAllowlist: string[];
  allowedResources: string[];
  expiresAt: number | null;
  enabled: boolean;
  revokedAt: number | null;
  createdAt: number;
  updatedAt: number;
  lastUsedAt: number | null;
  usageCount: number;
  limits: KeyLimits;
  credits: Credits;
  billing: Billing;
  metadata: Record<string, unknown>;
  rotatedFrom: string | null;
  rotatedTo: string | null;
}

export interface Token {
  id: string;
  ownerId: string;
  kind: TokenKind;
  name: string;
  hash: string;
  start: string;
  last4: string;
  scopes: Scope[];
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

export interface AuditEntry {
  seq: number;
  createdAt: number;
  actorType: 'user' | 'token' | 'cli' | 'system' | 'anonymous';
  actorId: string | null;
  ownerId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}
