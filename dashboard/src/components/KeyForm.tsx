// The create and edit dialogs of an API key: one form, sensible defaults, inline validation.
import { type FormEvent, Fragment, type ReactNode, useId, useRef, useState } from 'react';
import type { ApiError, ApiKey, CreatedKey, Environment, Limits } from '../api.ts';
import { api } from '../api.ts';
import { formatDate } from '../format.ts';
import { useSession } from '../session.ts';
import { Alert, Button, Dialog, environmentLabel, Field } from './ui.tsx';

type Expiration = '30d' | '90d' | '6m' | '1y' | 'never' | 'keep';
type Preset = 'full' | 'read_only' | 'custom';
type Window = '1s' | '1m' | '1h' | '1d';

export interface KeyFormState {
  name: string;
  environment: Environment;
  expiration: Expiration;
  preset: Preset;
  permissions: string;
  ipAllowlist: string;
  rateLimit: string;
  rateWindow: Window;
  dailyRequests: string;
  dailyAmount: string;
  monthlyRequests: string;
  monthlyAmount: string;
  credits: string;
  refillAmount: string;
  refillInterval: '' | 'daily' | 'monthly';
  billing: 'per_request' | 'usage';
  enabled: boolean;
}

type Errors = Partial<Record<keyof KeyFormState, string>>;

export const EXPIRATION_LABELS: Record<Exclude<Expiration, 'keep'>, string> = {
  '30d': '30 days',
  '90d': '90 days',
  '6m': '6 months',
  '1y': '1 year',
  never: 'No expiration',
};

const WINDOWS: { value: Window; label: string }[] = [
  { value: '1s', label: 'per second' },
  { value: '1m', label: 'per minute' },
  { value: '1h', label: 'per hour' },
  { value: '1d', label: 'per day' },
];

const PERMISSION = /^(\*|(\*|[a-z0-9_.-]{1,50}):(\*|[a-z0-9_.-]{1,50}))$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;
const IPV6 = /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/(12[0-8]|1[01]\d|[1-9]?\d))?$/;
const MAX_COUNT = 1e12;

export const DEFAULT_FORM: KeyFormState = {
  name: '',
  environment: 'live',
  expiration: '90d',
  preset: 'full',
  permissions: '',
  ipAllowlist: '',
  rateLimit: '',
  rateWindow: '1m',
  dailyRequests: '',
  dailyAmount: '',
  monthlyRequests: '',
  monthlyAmount: '',
  credits: '',
  refillAmount: '',
  refillInterval: '',
  billing: 'per_request',
  enabled: true,
};

const text = (value: number | undefined) => (value === undefined ? '' : String(value));

/** The form filled in from an existing key (edit). */
export function formFromKey(key: ApiKey): KeyFormState {
  const perms = key.permissions;
  const preset: Preset =
    perms.length === 1 && perms[0] === '*'
      ? 'full'
      : perms.length === 1 && perms[0] === '*:read'
        ? 'read_only'
        : 'custom';
  const rule = key.limits.rate?.[0];
  const window = (['1s', '1m', '1h', '1d'] as Window[]).includes(rule?.window as Window)
    ? (rule?.window as Window)
    : '1m';
  return {
    name: key.name,
    environment: key.environment,
    expiration: 'keep',
    preset,
    permissions: preset === 'custom' ? perms.join('\n') : '',
    ipAllowlist: key.ip_allowlist.join('\n'),
    rateLimit: text(rule?.limit),
    rateWindow: rule && rule.window !== window ? '1m' : window,
    dailyRequests: text(key.limits.daily?.requests),
    dailyAmount: text(key.limits.daily?.amount),
    monthlyRequests: text(key.limits.monthly?.requests),
    monthlyAmount: text(key.limits.monthly?.amount),
    credits: key.credits.remaining === null ? '' : String(key.credits.remaining),
    refillAmount: text(key.credits.refill?.amount),
    refillInterval: key.credits.refill?.interval ?? '',
    billing: key.billing,
    enabled: key.enabled,
  };
}

function lines(value: string): string[] {
  return value
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function count(value: string, min = 0): number | undefined | 'invalid' {
  const trimmed = value.trim().replaceAll(/[_\s]/g, '');
  if (trimmed === '') return undefined;
  if (!/^\d+$/.test(trimmed)) return 'invalid';
  const number = Number(trimmed);
  return number < min || number > MAX_COUNT ? 'invalid' : number;
}

export function validate(state: KeyFormState, mode: 'create' | 'edit'): Errors {
  const errors: Errors = {};
  const name = [...state.name.trim()].length;
  if (name === 0) errors.name = 'Give the key a name, such as "Production server".';
  else if (name > 100) errors.name = `Use at most 100 characters (this has ${name}).`;
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
  const numeric: [keyof KeyFormState, number][] = [
    ['rateLimit', 1],
    ['dailyRequests', 0],
    ['dailyAmount', 0],
    ['monthlyRequests', 0],
    ['monthlyAmount', 0],
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
  return errors;
}

function num(value: string): number | undefined {
  const parsed = count(value);
  return typeof parsed === 'number' ? parsed : undefined;
}

function limitsFrom(state: KeyFormState, original?: Limits): Limits {
  const limits: Limits = {};
  const rate = num(state.rateLimit);
  const originalRule = original?.rate?.[0];
  if (rate !== undefined) {
    const rule = { limit: rate, window: state.rateWindow };
    // Keep any further rules the key has (the API allows several; this form edits the first).
    limits.rate = [rule, ...(original?.rate?.slice(1) ?? [])];
    if (originalRule && originalRule.limit === rate && originalRule.window === state.rateWindow)
      limits.rate = original?.rate ?? [rule];
  } else if (original?.rate && original.rate.length > 1) {
    limits.rate = original.rate.slice(1);
  }
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
  if (original?.max_cost_per_request !== undefined)
    limits.max_cost_per_request = original.max_cost_per_request;
  return limits;
}

function addMonths(date: Date, months: number): Date {
  const out = new Date(date);
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

/** An expiry preset as a time from now (for edits, where the API takes expires_at). */
export function expiryFromPreset(
  preset: Exclude<Expiration, 'keep'>,
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
    expiration: state.expiration === 'keep' ? '90d' : state.expiration,
    billing: state.billing,
  };
  if (state.preset === 'custom') body.permissions = permissionsFrom(state);
  else body.permission_preset = state.preset;
  const ips = lines(state.ipAllowlist);
  if (ips.length > 0) body.ip_allowlist = ips;
  const limits = limitsFrom(state);
  if (Object.keys(limits).length > 0) body.limits = limits;
  const credits = creditsFrom(state);
  if (credits.remaining !== null) body.credits = credits;
  return body;
}

/** Only what changed, so that an edit never overwrites a balance spent meanwhile. */
export function updateBody(state: KeyFormState, key: ApiKey): Record<string, unknown> {
  const initial = formFromKey(key);
  const body: Record<string, unknown> = {};
  if (state.name.trim() !== key.name) body.name = state.name.trim();
  if (state.enabled !== key.enabled) body.enabled = state.enabled;
  if (state.expiration !== 'keep') body.expires_at = expiryFromPreset(state.expiration);
  const perms = permissionsFrom(state);
  if (JSON.stringify(perms) !== JSON.stringify(key.permissions)) body.permissions = perms;
  const ips = lines(state.ipAllowlist);
  if (JSON.stringify(ips) !== JSON.stringify(key.ip_allowlist)) body.ip_allowlist = ips;
  const limits = limitsFrom(state, key.limits);
  if (JSON.stringify(limits) !== JSON.stringify(limitsFrom(initial, key.limits)))
    body.limits = limits;
  if (
    state.credits !== initial.credits ||
    state.refillAmount !== initial.refillAmount ||
    state.refillInterval !== initial.refillInterval
  )
    body.credits = creditsFrom(state);
  if (state.billing !== key.billing) body.billing = state.billing;
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

function limitsSummary(state: KeyFormState): string {
  const parts: string[] = [];
  if (state.rateLimit.trim() !== '')
    parts.push(
      `${state.rateLimit.trim()} ${WINDOWS.find((w) => w.value === state.rateWindow)?.label ?? ''}`,
    );
  if (state.dailyRequests.trim() !== '') parts.push(`${state.dailyRequests.trim()}/day`);
  if (state.monthlyRequests.trim() !== '') parts.push(`${state.monthlyRequests.trim()}/month`);
  if (state.dailyAmount.trim() !== '' || state.monthlyAmount.trim() !== '')
    parts.push('amount quotas');
  return parts.length === 0 ? 'Unlimited' : parts.join(', ');
}

function creditsSummary(state: KeyFormState): string {
  const billing = state.billing === 'usage' ? 'usage-based' : 'per request';
  return state.credits.trim() === ''
    ? `Unlimited credits, ${billing}`
    : `${state.credits.trim()} credits, ${billing}`;
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
  const [touched, setTouched] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const hasLimits =
    limitsSummary(initial) !== 'Unlimited' ||
    initial.credits !== '' ||
    initial.billing !== 'per_request';
  const [limitsOpen, setLimitsOpen] = useState(
    mode === 'edit' && limitsSummary(initial) !== 'Unlimited',
  );
  const [creditsOpen, setCreditsOpen] = useState(mode === 'edit' && hasLimits);
  const formRef = useRef<HTMLFormElement>(null);

  const set = <K extends keyof KeyFormState>(field: K, value: KeyFormState[K]) => {
    const next = { ...state, [field]: value };
    setState(next);
    if (touched) setErrors(validate(next, mode));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    setFailure(null);
    const found = validate(state, mode);
    setErrors(found);
    if (Object.keys(found).length > 0) {
      const limitFields: (keyof KeyFormState)[] = [
        'rateLimit',
        'dailyRequests',
        'dailyAmount',
        'monthlyRequests',
        'monthlyAmount',
      ];
      if (limitFields.some((f) => found[f])) setLimitsOpen(true);
      if (found.credits || found.refillAmount || found.refillInterval) setCreditsOpen(true);
      requestAnimationFrame(() =>
        formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(),
      );
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
      setFailure((error as ApiError).message);
      setBusy(false);
      formRef.current?.closest('dialog')?.scrollTo({ top: 0 });
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
            error={errors.name}
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
              label="Permissions"
              error={errors.permissions}
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
            error={errors.ipAllowlist}
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
            title="Rate limit and quotas"
            summary={limitsSummary(state)}
            open={limitsOpen}
            onToggle={() => setLimitsOpen((open) => !open)}
          >
            <p className="hint">Leave a field empty for no limit.</p>
            <div className="form-row">
              <Field label="Rate limit (requests)" error={errors.rateLimit} optional>
                <input
                  type="text"
                  inputMode="numeric"
                  value={state.rateLimit}
                  onChange={(event) => set('rateLimit', event.target.value)}
                  placeholder="e.g. 60"
                />
              </Field>
              <Field label="Rate limit window">
                <select
                  value={state.rateWindow}
                  onChange={(event) => set('rateWindow', event.target.value as Window)}
                >
                  {WINDOWS.map((w) => (
                    <option key={w.value} value={w.value}>
                      {w.label}
                    </option>
                  ))}
                </select>
              </Field>
            </div>
            <div className="form-row">
              <Field label="Daily quota (requests)" error={errors.dailyRequests} optional>
                <input
                  type="text"
                  inputMode="numeric"
                  value={state.dailyRequests}
                  onChange={(event) => set('dailyRequests', event.target.value)}
                  placeholder="e.g. 1000"
                />
              </Field>
              <Field label="Monthly quota (requests)" error={errors.monthlyRequests} optional>
                <input
                  type="text"
                  inputMode="numeric"
                  value={state.monthlyRequests}
                  onChange={(event) => set('monthlyRequests', event.target.value)}
                  placeholder="e.g. 30000"
                />
              </Field>
            </div>
            <div className="form-row">
              <Field label="Daily quota (amount)" error={errors.dailyAmount} optional>
                <input
                  type="text"
                  inputMode="numeric"
                  value={state.dailyAmount}
                  onChange={(event) => set('dailyAmount', event.target.value)}
                />
              </Field>
              <Field label="Monthly quota (amount)" error={errors.monthlyAmount} optional>
                <input
                  type="text"
                  inputMode="numeric"
                  value={state.monthlyAmount}
                  onChange={(event) => set('monthlyAmount', event.target.value)}
                />
              </Field>
            </div>
          </Disclosure>
          <Disclosure
            title="Credits and billing"
            summary={creditsSummary(state)}
            open={creditsOpen}
            onToggle={() => setCreditsOpen((open) => !open)}
          >
            <Field
              label="Credits"
              optional
              error={errors.credits}
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
              <Field label="Refill amount" optional error={errors.refillAmount}>
                <input
                  type="text"
                  inputMode="numeric"
                  value={state.refillAmount}
                  onChange={(event) => set('refillAmount', event.target.value)}
                />
              </Field>
              <Field label="Refill" error={errors.refillInterval}>
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
