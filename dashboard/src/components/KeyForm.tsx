// The create and edit dialogs of an API key: one form, sensible defaults, inline validation, and
// every setting the API has (several rate rules, allowed resources, a cost cap, metadata).
import { type FormEvent, Fragment, type ReactNode, useId, useRef, useState } from 'react';
import type { ApiError, ApiKey, CreatedKey, Environment, Limits, RateRule } from '../api.ts';
import { api } from '../api.ts';
import { formatDate, formatNumber } from '../format.ts';
import { useSession } from '../session.ts';
import { Alert, Button, Dialog, environmentLabel, Field } from './ui.tsx';

type Expiration = '30d' | '90d' | '6m' | '1y' | 'never' | 'keep' | 'custom';
type Preset = 'full' | 'read_only' | 'custom';
type Unit = 's' | 'm' | 'h' | 'd';

export interface RateRuleState {
  limit: string;
  every: string;
  unit: Unit;
}

export interface KeyFormState {
  name: string;
  environment: Environment;
  expiration: Expiration;
  /** `YYYY-MM-DD`, for a custom expiry: the key works until the end of that day (local time). */
  expiresOn: string;
  preset: Preset;
  permissions: string;
  ipAllowlist: string;
  allowedResources: string;
  rateRules: RateRuleState[];
  dailyRequests: string;
  dailyAmount: string;
  monthlyRequests: string;
  monthlyAmount: string;
  maxCost: string;
  credits: string;
  refillAmount: string;
  refillInterval: '' | 'daily' | 'monthly';
  billing: 'per_request' | 'usage';
  /** JSON text of an object, or empty. */
  metadata: string;
  enabled: boolean;
}

/** Errors by form field; a rate rule's fields are `rate.<index>.limit` and `rate.<index>.every`. */
type Errors = Partial<Record<string, string>>;

/** The same presets as management tokens, and a date of your own. */
export const EXPIRATION_LABELS: Record<Exclude<Expiration, 'keep'>, string> = {
  '30d': '30 days',
  '90d': '90 days',
  '6m': '6 months',
  '1y': '1 year',
  never: 'No expiration',
  custom: 'On a date…',
};

const UNITS: { value: Unit; one: string; many: string }[] = [
  { value: 's', one: 'second', many: 'seconds' },
  { value: 'm', one: 'minute', many: 'minutes' },
  { value: 'h', one: 'hour', many: 'hours' },
  { value: 'd', one: 'day', many: 'days' },
];

const MAX_RATE_RULES = 5;
const PERMISSION = /^(\*|(\*|[a-z0-9_.-]{1,50}):(\*|[a-z0-9_.-]{1,50}))$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;
const IPV6 = /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/(12[0-8]|1[01]\d|[1-9]?\d))?$/;
const MAX_COUNT = 1e12;

export const DEFAULT_FORM: KeyFormState = {
  name: '',
  environment: 'live',
  expiration: '90d',
  expiresOn: '',
  preset: 'full',
  permissions: '',
  ipAllowlist: '',
  allowedResources: '',
  rateRules: [],
  dailyRequests: '',
  dailyAmount: '',
  monthlyRequests: '',
  monthlyAmount: '',
  maxCost: '',
  credits: '',
  refillAmount: '',
  refillInterval: '',
  billing: 'per_request',
  metadata: '',
  enabled: true,
};

/** A number as the rest of the dashboard writes it (4,920); the form reads the commas back. */
const text = (value: number | undefined) => (value === undefined ? '' : formatNumber(value));

function ruleState(rule: RateRule): RateRuleState {
  const match = /^(\d+)([smhd])$/.exec(rule.window);
  return {
    limit: formatNumber(rule.limit),
    every: match?.[1] ?? '1',
    unit: (match?.[2] as Unit | undefined) ?? 'm',
  };
}

/** The form filled in from an existing key (edit). */
export function formFromKey(key: ApiKey): KeyFormState {
  const perms = key.permissions;
  const preset: Preset =
    perms.length === 1 && perms[0] === '*'
      ? 'full'
      : perms.length === 1 && perms[0] === '*:read'
        ? 'read_only'
        : 'custom';
  return {
    name: key.name,
    environment: key.environment,
    expiration: 'keep',
    expiresOn: '',
    preset,
    permissions: preset === 'custom' ? perms.join('\n') : '',
    ipAllowlist: key.ip_allowlist.join('\n'),
    allowedResources: key.allowed_resources.join('\n'),
    rateRules: (key.limits.rate ?? []).map(ruleState),
    dailyRequests: text(key.limits.daily?.requests),
    dailyAmount: text(key.limits.daily?.amount),
    monthlyRequests: text(key.limits.monthly?.requests),
    monthlyAmount: text(key.limits.monthly?.amount),
    maxCost: text(key.limits.max_cost_per_request),
    credits: key.credits.remaining === null ? '' : formatNumber(key.credits.remaining),
    refillAmount: text(key.credits.refill?.amount),
    refillInterval: key.credits.refill?.interval ?? '',
    billing: key.billing,
    metadata: Object.keys(key.metadata).length === 0 ? '' : JSON.stringify(key.metadata, null, 2),
    enabled: key.enabled,
  };
}

function lines(value: string): string[] {
  return value
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function count(value: string, min = 0, max = MAX_COUNT): number | undefined | 'invalid' {
  const trimmed = value.trim().replaceAll(/[_\s,]/g, '');
  if (trimmed === '') return undefined;
  if (!/^\d+$/.test(trimmed)) return 'invalid';
  const number = Number(trimmed);
  return number < min || number > max ? 'invalid' : number;
}

/** The metadata text as an object, `undefined` when empty, or the reason it is not one. */
function parseMetadata(value: string): Record<string, unknown> | undefined | { error: string } {
  if (value.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { error: 'Write metadata as a JSON object, such as {"customer": "acme"}.' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { error: 'Metadata must be a JSON object, such as {"customer": "acme"}.' };
  if (new TextEncoder().encode(JSON.stringify(parsed)).length > 16_384)
    return { error: 'Metadata must be at most 16 KB of JSON.' };
  return parsed as Record<string, unknown>;
}

/** The end of a chosen day, in the browser's time zone, as the API's timestamp. */
function endOfDay(date: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (match === null) return null;
  const end = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]), 23, 59, 59, 999);
  return Number.isNaN(end.getTime()) ? null : end.toISOString();
}

function localDate(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function validate(state: KeyFormState, mode: 'create' | 'edit'): Errors {
  const errors: Errors = {};
  const name = [...state.name.trim()].length;
  if (name === 0) errors.name = 'Give the key a name, such as "Production server".';
  else if (name > 100) errors.name = `Use at most 100 characters (this has ${name}).`;
  if (state.expiration === 'custom') {
    const end = endOfDay(state.expiresOn);
    if (end === null) errors.expiresOn = 'Choose the last day the key works.';
    else if (Date.parse(end) <= Date.now()) errors.expiresOn = 'Choose a day from today on.';
  }
  if (state.preset === 'custom') {
    const perms = lines(state.permissions);
    const bad = perms.find((p) => !PERMISSION.test(p));
    if (perms.length === 0)
      errors.permissions = 'List at least one permission, such as images:read.';
    else if (bad !== undefined)
      errors.permissions = `"${bad}" is not a permission: use resource:action in lowercase, such as images:read or images:*.`;
  }
  const badIp = lines(state.ipAllowlist).find((ip) => !IPV4.test(ip) && !IPV6.test(ip));
  if (badIp !== undefined)
    errors.ipAllowlist = `"${badIp}" is not an IP address or range. Use forms like 203.0.113.7, 10.0.0.0/8 or 2001:db8::/32.`;
  const resources = state.allowedResources
    .split('\n')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (resources.length > 100) errors.allowedResources = 'List at most 100 resources.';
  else if (resources.some((r) => r.length > 200))
    errors.allowedResources = 'Each resource is at most 200 characters.';
  state.rateRules.forEach((rule, index) => {
    if (count(rule.limit, 1, 1e9) === undefined)
      errors[`rate.${index}.limit`] = 'Enter how many requests, or remove this rule.';
    else if (count(rule.limit, 1, 1e9) === 'invalid')
      errors[`rate.${index}.limit`] = 'Enter a whole number from 1 to 1,000,000,000.';
    const every = count(rule.every, 1, 999_999);
    if (typeof every !== 'number')
      errors[`rate.${index}.every`] = 'Enter a whole number of at least 1.';
  });
  const numeric: [keyof KeyFormState, number][] = [
    ['dailyRequests', 0],
    ['dailyAmount', 0],
    ['monthlyRequests', 0],
    ['monthlyAmount', 0],
    ['maxCost', 0],
    ['credits', 0],
    ['refillAmount', 1],
  ];
  for (const [field, min] of numeric) {
    if (count(String(state[field]), min) === 'invalid')
      errors[field] =
        min === 1 ? 'Enter a whole number of at least 1.' : 'Enter a whole number (0 or more).';
  }
  if (state.refillInterval !== '' && state.refillAmount.trim() === '' && !errors.refillAmount)
    errors.refillAmount = 'Say how many credits to add each period.';
  if (state.refillInterval === '' && state.refillAmount.trim() !== '' && !errors.refillAmount)
    errors.refillInterval = 'Choose how often to refill.';
  if (
    (state.refillInterval !== '' || state.refillAmount.trim() !== '') &&
    state.credits.trim() === '' &&
    !errors.credits
  )
    errors.credits = 'A refill needs a starting balance: enter the credits the key starts with.';
  if (mode === 'create' && state.billing === 'usage' && state.credits.trim() === '')
    errors.credits ??= 'Usage-based billing spends credits: enter a starting balance.';
  const metadata = parseMetadata(state.metadata);
  if (metadata !== undefined && 'error' in metadata && typeof metadata.error === 'string')
    errors.metadata = metadata.error;
  return errors;
}

/**
 * Where the server's complaint belongs in the form: its `param` (`ip_allowlist`,
 * `limits.rate[1].window`, `credits.refill.amount`) as a form field, or null for the top banner.
 */
export function fieldOf(param: string | null): string | null {
  if (param === null) return null;
  const rate = /^limits\.rate\[(\d+)\](?:\.(limit|window))?/.exec(param);
  if (rate) return `rate.${rate[1]}.${rate[2] === 'window' ? 'every' : 'limit'}`;
  const table: [RegExp, string][] = [
    [/^name/, 'name'],
    [/^(expires_at|expiration)/, 'expiresOn'],
    [/^permissions/, 'permissions'],
    [/^ip_allowlist/, 'ipAllowlist'],
    [/^allowed_resources/, 'allowedResources'],
    [/^limits\.daily\.requests/, 'dailyRequests'],
    [/^limits\.daily\.amount/, 'dailyAmount'],
    [/^limits\.monthly\.requests/, 'monthlyRequests'],
    [/^limits\.monthly\.amount/, 'monthlyAmount'],
    [/^limits\.max_cost_per_request/, 'maxCost'],
    [/^credits\.refill\.amount/, 'refillAmount'],
    [/^credits\.refill/, 'refillInterval'],
    [/^credits/, 'credits'],
    [/^metadata/, 'metadata'],
  ];
  return table.find(([pattern]) => pattern.test(param))?.[1] ?? null;
}

const LIMIT_FIELDS = ['dailyRequests', 'dailyAmount', 'monthlyRequests', 'monthlyAmount'];
const CREDIT_FIELDS = ['credits', 'refillAmount', 'refillInterval', 'maxCost'];

function num(value: string): number | undefined {
  const parsed = count(value);
  return typeof parsed === 'number' ? parsed : undefined;
}

function limitsFrom(state: KeyFormState): Limits {
  const limits: Limits = {};
  const rules = state.rateRules
    .map((rule) => ({ limit: num(rule.limit), window: `${num(rule.every) ?? 1}${rule.unit}` }))
    .filter((rule): rule is RateRule => rule.limit !== undefined);
  if (rules.length > 0) limits.rate = rules;
  const quota = (requests: string, amount: string) => {
    const out: { requests?: number; amount?: number } = {};
    const r = num(requests);
    const a = num(amount);
    if (r !== undefined) out.requests = r;
    if (a !== undefined) out.amount = a;
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const daily = quota(state.dailyRequests, state.dailyAmount);
  const monthly = quota(state.monthlyRequests, state.monthlyAmount);
  if (daily) limits.daily = daily;
  if (monthly) limits.monthly = monthly;
  const maxCost = num(state.maxCost);
  if (maxCost !== undefined) limits.max_cost_per_request = maxCost;
  return limits;
}

function addMonths(date: Date, months: number): Date {
  const out = new Date(date);
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

/** An expiry preset as a time from now (for edits, where the API takes expires_at). */
export function expiryFromPreset(
  preset: Exclude<Expiration, 'keep' | 'custom'>,
  now = new Date(),
): string | null {
  switch (preset) {
    case '30d':
      return new Date(now.getTime() + 30 * 86_400_000).toISOString();
    case '90d':
      return new Date(now.getTime() + 90 * 86_400_000).toISOString();
    case '6m':
      return addMonths(now, 6).toISOString();
    case '1y':
      return addMonths(now, 12).toISOString();
    case 'never':
      return null;
  }
}

function permissionsFrom(state: KeyFormState): string[] {
  if (state.preset === 'full') return ['*'];
  if (state.preset === 'read_only') return ['*:read'];
  return lines(state.permissions);
}

function resourcesFrom(state: KeyFormState): string[] {
  return state.allowedResources
    .split('\n')
    .map((r) => r.trim())
    .filter((r) => r !== '');
}

function creditsFrom(state: KeyFormState) {
  const remaining = num(state.credits);
  const refillAmount = num(state.refillAmount);
  return {
    remaining: remaining ?? null,
    refill:
      refillAmount !== undefined && state.refillInterval !== ''
        ? { amount: refillAmount, interval: state.refillInterval }
        : null,
  };
}

export function createBody(state: KeyFormState): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: state.name.trim(),
    environment: state.environment,
    billing: state.billing,
  };
  if (state.expiration === 'custom') body.expires_at = endOfDay(state.expiresOn);
  else body.expiration = state.expiration === 'keep' ? '90d' : state.expiration;
  if (state.preset === 'custom') body.permissions = permissionsFrom(state);
  else body.permission_preset = state.preset;
  const ips = lines(state.ipAllowlist);
  if (ips.length > 0) body.ip_allowlist = ips;
  const resources = resourcesFrom(state);
  if (resources.length > 0) body.allowed_resources = resources;
  const limits = limitsFrom(state);
  if (Object.keys(limits).length > 0) body.limits = limits;
  const credits = creditsFrom(state);
  if (credits.remaining !== null) body.credits = credits;
  const metadata = parseMetadata(state.metadata);
  if (metadata !== undefined && !('error' in metadata && typeof metadata.error === 'string'))
    body.metadata = metadata;
  return body;
}

/** Only what changed, so that an edit never overwrites a balance spent meanwhile. */
export function updateBody(state: KeyFormState, key: ApiKey): Record<string, unknown> {
  const initial = formFromKey(key);
  const body: Record<string, unknown> = {};
  if (state.name.trim() !== key.name) body.name = state.name.trim();
  if (state.enabled !== key.enabled) body.enabled = state.enabled;
  if (state.expiration === 'custom') body.expires_at = endOfDay(state.expiresOn);
  else if (state.expiration !== 'keep') body.expires_at = expiryFromPreset(state.expiration);
  const perms = permissionsFrom(state);
  if (JSON.stringify(perms) !== JSON.stringify(key.permissions)) body.permissions = perms;
  const ips = lines(state.ipAllowlist);
  if (JSON.stringify(ips) !== JSON.stringify(key.ip_allowlist)) body.ip_allowlist = ips;
  const resources = resourcesFrom(state);
  if (JSON.stringify(resources) !== JSON.stringify(key.allowed_resources))
    body.allowed_resources = resources;
  const limits = limitsFrom(state);
  if (JSON.stringify(limits) !== JSON.stringify(limitsFrom(initial))) body.limits = limits;
  if (
    state.credits !== initial.credits ||
    state.refillAmount !== initial.refillAmount ||
    state.refillInterval !== initial.refillInterval
  )
    body.credits = creditsFrom(state);
  if (state.billing !== key.billing) body.billing = state.billing;
  if (state.metadata !== initial.metadata) body.metadata = parseMetadata(state.metadata) ?? {};
  return body;
}

function Disclosure({
  title,
  summary,
  open,
  onToggle,
  children,
}: {
  title: string;
  summary: string;
  open: boolean;
  onToggle: () => void;
  children: ReactNode;
}) {
  const id = useId();
  return (
    <section className="disclosure">
      <h3>
        <button type="button" aria-expanded={open} aria-controls={id} onClick={onToggle}>
          <span className="disclosure-chevron" aria-hidden="true">
            ›
          </span>
          <span className="disclosure-title">{title}</span>
          <span className="disclosure-summary">{summary}</span>
        </button>
      </h3>
      <div id={id} hidden={!open} className="disclosure-body">
        {children}
      </div>
    </section>
  );
}

function unitName(unit: Unit, every: number): string {
  const found = UNITS.find((u) => u.value === unit) ?? UNITS[1];
  return every === 1 ? (found?.one ?? unit) : `${formatNumber(every)} ${found?.many ?? unit}`;
}

/** What the section holds, from valid values only: a half-typed "sixty" is not echoed back. */
function limitsSummary(state: KeyFormState, errors: Errors): string {
  const parts: string[] = [];
  for (const rule of state.rateRules) {
    const limit = num(rule.limit);
    const every = num(rule.every);
    if (limit !== undefined && every !== undefined && limit >= 1 && every >= 1)
      parts.push(`${formatNumber(limit)} per ${unitName(rule.unit, every)}`);
  }
  const daily = num(state.dailyRequests);
  const monthly = num(state.monthlyRequests);
  if (daily !== undefined) parts.push(`${formatNumber(daily)} a day`);
  if (monthly !== undefined) parts.push(`${formatNumber(monthly)} a month`);
  if (num(state.dailyAmount) !== undefined || num(state.monthlyAmount) !== undefined)
    parts.push('amount quotas');
  const invalid = Object.keys(errors).some(
    (f) => f.startsWith('rate.') || LIMIT_FIELDS.includes(f),
  );
  if (invalid) parts.push('some values need fixing');
  return parts.length === 0 ? 'Unlimited' : parts.join(', ');
}

function creditsSummary(state: KeyFormState, errors: Errors): string {
  const billing = state.billing === 'usage' ? 'usage-based' : 'per request';
  const credits = num(state.credits);
  const parts = [
    credits === undefined ? 'Unlimited credits' : `${formatNumber(credits)} credits`,
    billing,
  ];
  const cap = num(state.maxCost);
  if (cap !== undefined) parts.push(`at most ${formatNumber(cap)} a request`);
  if (CREDIT_FIELDS.some((f) => errors[f])) parts.push('some values need fixing');
  return parts.join(', ');
}

function moreSummary(state: KeyFormState, errors: Errors): string {
  const resources = resourcesFrom(state).length;
  const metadata = parseMetadata(state.metadata);
  const keys =
    metadata === undefined || ('error' in metadata && typeof metadata.error === 'string')
      ? 0
      : Object.keys(metadata).length;
  const parts = [
    resources === 0 ? 'Any resource' : `${formatNumber(resources)} allowed resources`,
    keys === 0 ? 'no metadata' : `${formatNumber(keys)} metadata fields`,
  ];
  if (errors.allowedResources || errors.metadata) parts.push('some values need fixing');
  return parts.join(', ');
}

interface KeyFormDialogProps {
  mode: 'create' | 'edit';
  apiKey?: ApiKey;
  myIp: string;
  onClose: () => void;
  onCreated?: (key: CreatedKey) => void;
  onSaved?: (key: ApiKey) => void;
}

export function KeyFormDialog({
  mode,
  apiKey,
  myIp,
  onClose,
  onCreated,
  onSaved,
}: KeyFormDialogProps) {
  const { me } = useSession();
  const initial = apiKey
    ? formFromKey(apiKey)
    : { ...DEFAULT_FORM, environment: me.environments[0] ?? DEFAULT_FORM.environment };
  const [state, setState] = useState<KeyFormState>(initial);
  const [errors, setErrors] = useState<Errors>({});
  /** Errors the server gave for a field, shown beside it until that field changes. */
  const [serverErrors, setServerErrors] = useState<Errors>({});
  const [touched, setTouched] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [limitsOpen, setLimitsOpen] = useState(
    mode === 'edit' && limitsSummary(initial, {}) !== 'Unlimited',
  );
  const [creditsOpen, setCreditsOpen] = useState(
    mode === 'edit' &&
      (initial.credits !== '' || initial.billing !== 'per_request' || initial.maxCost !== ''),
  );
  const [moreOpen, setMoreOpen] = useState(
    mode === 'edit' && (initial.allowedResources !== '' || initial.metadata !== ''),
  );
  const formRef = useRef<HTMLFormElement>(null);
  const shown: Errors = { ...serverErrors, ...errors };

  const update = (next: KeyFormState, changed: string[]) => {
    setState(next);
    if (changed.some((field) => serverErrors[field] !== undefined))
      setServerErrors((current) => {
        const rest = { ...current };
        for (const field of changed) delete rest[field];
        return rest;
      });
    if (touched) setErrors(validate(next, mode));
  };
  const set = <K extends keyof KeyFormState>(field: K, value: KeyFormState[K]) =>
    update({ ...state, [field]: value }, [field]);
  const setRule = (index: number, patch: Partial<RateRuleState>) =>
    update(
      {
        ...state,
        rateRules: state.rateRules.map((rule, i) => (i === index ? { ...rule, ...patch } : rule)),
      },
      Object.keys(patch).map((f) => `rate.${index}.${f}`),
    );

  const openSectionsFor = (found: Errors) => {
    const fields = Object.keys(found);
    if (fields.some((f) => f.startsWith('rate.') || LIMIT_FIELDS.includes(f))) setLimitsOpen(true);
    if (fields.some((f) => CREDIT_FIELDS.includes(f))) setCreditsOpen(true);
    if (found.allowedResources || found.metadata) setMoreOpen(true);
    requestAnimationFrame(() =>
      formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(),
    );
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    setFailure(null);
    setServerErrors({});
    const found = validate(state, mode);
    setErrors(found);
    if (Object.keys(found).length > 0) {
      openSectionsFor(found);
      return;
    }
    setBusy(true);
    try {
      if (mode === 'create') {
        const created = await api.createKey(createBody(state));
        onCreated?.(created);
      } else if (apiKey) {
        const body = updateBody(state, apiKey);
        const saved =
          Object.keys(body).length === 0 ? apiKey : await api.updateKey(apiKey.id, body);
        onSaved?.(saved);
      }
    } catch (error) {
      const apiError = error as ApiError;
      setBusy(false);
      const field = apiError.status === 400 ? fieldOf(apiError.param) : null;
      if (field !== null) {
        // The server's wording, on the field it is about (an IPv6 range the browser's check let
        // through, a date past the deployment's longest key lifetime).
        const found = { [field]: apiError.message };
        setServerErrors(found);
        openSectionsFor(found);
      } else {
        setFailure(apiError.message);
        formRef.current?.closest('dialog')?.scrollTo({ top: 0 });
      }
    }
  };

  const ips = lines(state.ipAllowlist);
  const addMyIp = () => {
    if (ips.includes(myIp)) return;
    set('ipAllowlist', [...ips, myIp].join('\n'));
  };

  const radio = <K extends 'environment' | 'preset' | 'billing'>(
    field: K,
    value: KeyFormState[K],
    label: string,
    description?: string,
  ) => (
    <label className="choice">
      <input
        type="radio"
        name={field}
        value={String(value)}
        checked={state[field] === value}
        onChange={() => set(field, value)}
      />
      <span>
        <span className="choice-label">{label}</span>
        {description && <span className="choice-description">{description}</span>}
      </span>
    </label>
  );

  const numberField = (field: keyof KeyFormState, label: string, placeholder?: string) => (
    <Field label={label} error={shown[field]} optional>
      <input
        type="text"
        inputMode="numeric"
        value={String(state[field])}
        onChange={(event) => set(field, event.target.value as never)}
        {...(placeholder !== undefined && { placeholder })}
      />
    </Field>
  );

  const tomorrow = localDate(new Date(Date.now() + 86_400_000));

  return (
    <Dialog
      title={mode === 'create' ? 'Create API key' : `Edit “${apiKey?.name ?? ''}”`}
      onClose={onClose}
      wide
    >
      <form ref={formRef} onSubmit={submit} noValidate className="key-form">
        <div className="dialog-body">
          {failure && <Alert>{failure}</Alert>}
          <Field
            label="Name"
            error={shown.name}
            hint="Only you see it. Name keys after where they are used."
          >
            <input
              type="text"
              value={state.name}
              onChange={(event) => set('name', event.target.value)}
              placeholder="e.g. Production server"
              autoComplete="off"
              maxLength={200}
              data-autofocus
            />
          </Field>
          <div className="form-row">
            {mode === 'create' ? (
              <fieldset className="field">
                <legend>Environment</legend>
                <div className="segmented">
                  {me.environments.map((name) => (
                    <Fragment key={name}>
                      {radio('environment', name, environmentLabel(name))}
                    </Fragment>
                  ))}
                </div>
              </fieldset>
            ) : (
              <fieldset className="field">
                <legend>Status</legend>
                <label className="choice">
                  <input
                    type="checkbox"
                    checked={state.enabled}
                    onChange={(event) => set('enabled', event.target.checked)}
                  />
                  <span>
                    <span className="choice-label">Enabled</span>
                    <span className="choice-description">
                      Clear to pause the key; you can enable it again.
                    </span>
                  </span>
                </label>
              </fieldset>
            )}
            <Field
              label="Expiration"
              error={state.expiration === 'custom' ? undefined : shown.expiresOn}
              hint={
                mode === 'edit'
                  ? 'A new expiry counts from today.'
                  : 'The key stops working after this.'
              }
            >
              <select
                value={state.expiration}
                onChange={(event) => set('expiration', event.target.value as Expiration)}
              >
                {mode === 'edit' && (
                  <option value="keep">
                    {apiKey?.expires_at
                      ? `Keep: expires ${formatDate(apiKey.expires_at)}`
                      : 'Keep: never expires'}
                  </option>
                )}
                {Object.entries(EXPIRATION_LABELS).map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </Field>
          </div>
          {state.expiration === 'custom' && (
            <Field
              label="Last day the key works"
              error={shown.expiresOn}
              hint="It stops at the end of this day, your time."
            >
              <input
                type="date"
                value={state.expiresOn}
                min={localDate(new Date())}
                onChange={(event) => set('expiresOn', event.target.value)}
                placeholder={tomorrow}
              />
            </Field>
          )}
          <fieldset className="field">
            <legend>Permissions</legend>
            <div className="choices choices-row">
              {radio('preset', 'full', 'Full access', 'Every operation of the API.')}
              {radio('preset', 'read_only', 'Read-only', 'Only operations that read (*:read).')}
              {radio('preset', 'custom', 'Custom', 'Exactly the permissions you list.')}
            </div>
          </fieldset>
          {state.preset === 'custom' && (
            <Field
              label="Permission list"
              error={shown.permissions}
              hint="One per line, as resource:action, for example images:read or images:*."
            >
              <textarea
                rows={3}
                value={state.permissions}
                onChange={(event) => set('permissions', event.target.value)}
                spellCheck={false}
              />
            </Field>
          )}
          <Field
            label="IP allowlist"
            optional
            error={shown.ipAllowlist}
            hint="One address or CIDR range per line. Empty: the key works from any address."
          >
            <textarea
              rows={2}
              value={state.ipAllowlist}
              onChange={(event) => set('ipAllowlist', event.target.value)}
              placeholder="203.0.113.7&#10;10.0.0.0/8"
              spellCheck={false}
            />
          </Field>
          {myIp && (
            <div className="inline-action">
              <Button size="sm" onClick={addMyIp} disabled={ips.includes(myIp)}>
                Add my IP address ({myIp})
              </Button>
            </div>
          )}
          <Disclosure
            title="Rate limits and quotas"
            summary={limitsSummary(state, shown)}
            open={limitsOpen}
            onToggle={() => setLimitsOpen((open) => !open)}
          >
            <p className="hint">
              Up to {MAX_RATE_RULES} rate rules, all enforced together (for example 10 per second
              and 1,000 per hour). Leave a quota empty for no limit.
            </p>
            {state.rateRules.map((rule, index) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: rules have no id; the index is their identity here
              <div className="form-row rate-rule" key={index}>
                <Field label={`Rule ${index + 1}: requests`} error={shown[`rate.${index}.limit`]}>
                  <input
                    type="text"
                    inputMode="numeric"
                    value={rule.limit}
                    onChange={(event) => setRule(index, { limit: event.target.value })}
                    placeholder="e.g. 60"
                  />
                </Field>
                <Field label={`Rule ${index + 1}: per`} error={shown[`rate.${index}.every`]}>
                  <input
                    type="text"
                    inputMode="numeric"
                    value={rule.every}
                    onChange={(event) => setRule(index, { every: event.target.value })}
                  />
                </Field>
                <Field label={`Rule ${index + 1}: unit`}>
                  <select
                    value={rule.unit}
                    onChange={(event) => setRule(index, { unit: event.target.value as Unit })}
                  >
                    {UNITS.map((u) => (
                      <option key={u.value} value={u.value}>
                        {rule.every.trim() === '1' ? u.one : u.many}
                      </option>
                    ))}
                  </select>
                </Field>
                <div className="rate-rule-remove">
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={`Remove rate rule ${index + 1}`}
                    onClick={() =>
                      update(
                        { ...state, rateRules: state.rateRules.filter((_, i) => i !== index) },
                        [`rate.${index}.limit`, `rate.${index}.every`],
                      )
                    }
                  >
                    Remove
                  </Button>
                </div>
              </div>
            ))}
            {state.rateRules.length < MAX_RATE_RULES && (
              <div className="inline-action">
                <Button
                  size="sm"
                  onClick={() =>
                    update(
                      {
                        ...state,
                        rateRules: [...state.rateRules, { limit: '', every: '1', unit: 'm' }],
                      },
                      [],
                    )
                  }
                >
                  {state.rateRules.length === 0 ? 'Add a rate limit' : 'Add another rate rule'}
                </Button>
              </div>
            )}
            <div className="form-row">
              {numberField('dailyRequests', 'Daily quota (requests)', 'e.g. 1000')}
              {numberField('monthlyRequests', 'Monthly quota (requests)', 'e.g. 30000')}
            </div>
            <div className="form-row">
              {numberField('dailyAmount', 'Daily quota (amount)')}
              {numberField('monthlyAmount', 'Monthly quota (amount)')}
            </div>
          </Disclosure>
          <Disclosure
            title="Credits and billing"
            summary={creditsSummary(state, shown)}
            open={creditsOpen}
            onToggle={() => setCreditsOpen((open) => !open)}
          >
            <Field
              label="Credits"
              optional
              error={shown.credits}
              hint="The balance requests spend. Empty: unlimited."
            >
              <input
                type="text"
                inputMode="numeric"
                value={state.credits}
                onChange={(event) => set('credits', event.target.value)}
                placeholder="Unlimited"
              />
            </Field>
            <div className="form-row">
              {numberField('refillAmount', 'Refill amount')}
              <Field label="Refill" error={shown.refillInterval}>
                <select
                  value={state.refillInterval}
                  onChange={(event) =>
                    set('refillInterval', event.target.value as KeyFormState['refillInterval'])
                  }
                >
                  <option value="">Never</option>
                  <option value="daily">Every day</option>
                  <option value="monthly">Every month</option>
                </select>
              </Field>
            </div>
            <Field
              label="Largest cost of one request"
              optional
              error={shown.maxCost}
              hint="A request that asks for more is refused. Empty: no cap."
            >
              <input
                type="text"
                inputMode="numeric"
                value={state.maxCost}
                onChange={(event) => set('maxCost', event.target.value)}
              />
            </Field>
            <fieldset className="field">
              <legend>Billing</legend>
              <div className="choices">
                {radio(
                  'billing',
                  'per_request',
                  'Per request',
                  'Each request costs 1 credit, or the cost your API reports.',
                )}
                {radio(
                  'billing',
                  'usage',
                  'Usage-based',
                  'Your API reserves an estimate and settles the final amount.',
                )}
              </div>
            </fieldset>
          </Disclosure>
          <Disclosure
            title="Resources and metadata"
            summary={moreSummary(state, shown)}
            open={moreOpen}
            onToggle={() => setMoreOpen((open) => !open)}
          >
            <Field
              label="Allowed resources"
              optional
              error={shown.allowedResources}
              hint="One per line, such as model names (gpt-4o-mini). Empty: any resource."
            >
              <textarea
                rows={3}
                value={state.allowedResources}
                onChange={(event) => set('allowedResources', event.target.value)}
                spellCheck={false}
              />
            </Field>
            <Field
              label="Metadata"
              optional
              error={shown.metadata}
              hint='A JSON object your API gets back on each check, such as {"customer": "acme"}. Never put secrets here.'
            >
              <textarea
                rows={4}
                value={state.metadata}
                onChange={(event) => set('metadata', event.target.value)}
                spellCheck={false}
              />
            </Field>
          </Disclosure>
        </div>
        <div className="dialog-footer">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {mode === 'create' ? 'Create key' : 'Save changes'}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
