import { type FormEvent, useCallback, useEffect, useState } from 'react';
import {
  type ApiError,
  api,
  type Credits,
  type OwnerLimits,
  type Plan,
  type User,
} from '../api.ts';
import {
  Alert,
  Button,
  ConfirmDialog,
  Dialog,
  EmptyState,
  Field,
  PageHeader,
  Spinner,
  TableHead,
  useToast,
} from '../components/ui.tsx';
import { describeAccountLimits, formatDate } from '../format.ts';
import { useSession } from '../session.ts';

export function AdminOnly() {
  return (
    <>
      <PageHeader title="Administrators only" />
      <EmptyState title="This page is for administrators">
        <p>
          Your account cannot see it. Ask the operator of this Keyward server if you need access.
        </p>
      </EmptyState>
    </>
  );
}

/** A whole number typed in a field: blank = none; null when it is not one. */
function wholeNumber(text: string): number | undefined | null {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return /^\d{1,13}$/.test(trimmed) ? Number(trimmed) : null;
}

/**
 * The account's own limits and credits (owner balances): one rate rule, requests per day and per
 * month, and a credit balance with its refill. Other parts (more rate rules, amount quotas) are
 * kept as they are; the credits are sent only when changed, so spends made meanwhile stay.
 */
function LimitsDialog({
  user,
  onClose,
  onSaved,
}: {
  user: User;
  onClose: () => void;
  onSaved: (user: User) => void;
}) {
  const firstRule = user.limits.rate?.[0];
  const initialCredits = user.credits.remaining === null ? '' : String(user.credits.remaining);
  const initialRefill = user.credits.refill ? String(user.credits.refill.amount) : '';
  const initialInterval = user.credits.refill?.interval ?? 'monthly';
  const [rateLimit, setRateLimit] = useState(firstRule ? String(firstRule.limit) : '');
  const [rateWindow, setRateWindow] = useState(firstRule?.window ?? '1m');
  const [daily, setDaily] = useState(String(user.limits.daily?.requests ?? ''));
  const [monthly, setMonthly] = useState(String(user.limits.monthly?.requests ?? ''));
  const [credits, setCredits] = useState(initialCredits);
  const [refill, setRefill] = useState(initialRefill);
  const [interval, setInterval] = useState<'daily' | 'monthly'>(initialInterval);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const found: Record<string, string> = {};
    const numbers = { rateLimit, daily, monthly, credits, refill };
    const parsed: Record<string, number | undefined> = {};
    for (const [name, text] of Object.entries(numbers)) {
      const value = wholeNumber(text);
      if (value === null) found[name] = 'Enter a whole number, or leave it blank.';
      else parsed[name] = value;
    }
    if (parsed.rateLimit === 0) found.rateLimit = 'A rate limit of at least 1, or blank for none.';
    if (parsed.rateLimit !== undefined && !/^[1-9]\d{0,5}[smhd]$/.test(rateWindow.trim()))
      found.rateWindow = 'A window such as 1s, 1m, 1h or 1d.';
    if (parsed.refill !== undefined && parsed.credits === undefined)
      found.refill = 'A refill needs a credit balance.';
    if (parsed.refill === 0) found.refill = 'Refill at least 1 credit, or leave it blank.';
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    const otherRules = user.limits.rate?.slice(1) ?? [];
    const rate =
      parsed.rateLimit === undefined
        ? otherRules
        : [{ limit: parsed.rateLimit, window: rateWindow.trim() }, ...otherRules];
    const period = (
      quota: { requests?: number; amount?: number } | undefined,
      requests: number | undefined,
    ) => {
      const next = { ...(quota?.amount !== undefined && { amount: quota.amount }) };
      return requests === undefined ? next : { ...next, requests };
    };
    const dailyQuota = period(user.limits.daily, parsed.daily);
    const monthlyQuota = period(user.limits.monthly, parsed.monthly);
    const limits: OwnerLimits = {
      ...(rate.length > 0 && { rate }),
      ...(Object.keys(dailyQuota).length > 0 && { daily: dailyQuota }),
      ...(Object.keys(monthlyQuota).length > 0 && { monthly: monthlyQuota }),
    };
    const creditsChanged =
      credits !== initialCredits ||
      refill !== initialRefill ||
      (refill !== '' && interval !== initialInterval);
    const balance: Credits = {
      remaining: parsed.credits ?? null,
      refill: parsed.refill === undefined ? null : { amount: parsed.refill, interval },
    };
    setBusy(true);
    setFailure(null);
    try {
      onSaved(
        await api.updateUser(user.id, { limits, ...(creditsChanged && { credits: balance }) }),
      );
    } catch (error) {
      setFailure((error as ApiError).message);
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={`Account limits of ${user.email}`}
      description="Shared by all the account's keys, checked after each key's own limits. Leave a field blank for no limit."
      onClose={onClose}
    >
      <form onSubmit={submit} noValidate>
        <div className="dialog-body">
          {failure && <Alert>{failure}</Alert>}
          <div className="form-row">
            <Field label="Rate limit (requests)" error={errors.rateLimit} optional>
              <input
                inputMode="numeric"
                value={rateLimit}
                data-autofocus
                onChange={(event) => setRateLimit(event.target.value)}
              />
            </Field>
            <Field label="per window" error={errors.rateWindow} hint="1s, 1m, 1h or 1d">
              <input value={rateWindow} onChange={(event) => setRateWindow(event.target.value)} />
            </Field>
          </div>
          <div className="form-row">
            <Field label="Requests per day" error={errors.daily} optional>
              <input
                inputMode="numeric"
                value={daily}
                onChange={(event) => setDaily(event.target.value)}
              />
            </Field>
            <Field label="Requests per month" error={errors.monthly} optional>
              <input
                inputMode="numeric"
                value={monthly}
                onChange={(event) => setMonthly(event.target.value)}
              />
            </Field>
          </div>
          <div className="form-row">
            <Field label="Credits" error={errors.credits} hint="Blank = unlimited" optional>
              <input
                inputMode="numeric"
                value={credits}
                onChange={(event) => setCredits(event.target.value)}
              />
            </Field>
            <Field label="Refill to" error={errors.refill} optional>
              <input
                inputMode="numeric"
                value={refill}
                onChange={(event) => setRefill(event.target.value)}
              />
            </Field>
            <Field label="Refill every">
              <select
                value={interval}
                onChange={(event) => setInterval(event.target.value as 'daily' | 'monthly')}
              >
                <option value="daily">day</option>
                <option value="monthly">month</option>
              </select>
            </Field>
          </div>
        </div>
        <div className="dialog-footer">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Save limits
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

function planLabel(plan: Plan): string {
  return `${plan.name} (${plan.max_keys === null ? 'unlimited keys' : `${plan.max_keys} keys`})`;
}

export function AdminUsers() {
  const { me } = useSession();
  const toast = useToast();
  const [users, setUsers] = useState<User[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [plans, setPlans] = useState<Plan[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<User | null>(null);
  const [editing, setEditing] = useState<User | null>(null);
  const [saving, setSaving] = useState<string | null>(null);
  const admin = me.user.role === 'admin';

  const load = useCallback(async (from?: string) => {
    try {
      const page = await api.listUsers(from);
      setUsers((list) => (from === undefined ? page.data : [...(list ?? []), ...page.data]));
      setCursor(page.next_cursor);
    } catch (error) {
      setFailure((error as ApiError).message);
    }
  }, []);

  useEffect(() => {
    document.title = 'Users · Keyward';
    if (!admin) return;
    load();
    api
      .plans()
      .then((answer) => setPlans(answer.data))
      .catch((error: ApiError) => setFailure(error.message));
  }, [admin, load]);

  if (!admin) return <AdminOnly />;

  const replace = (user: User) =>
    setUsers((list) => (list ?? []).map((u) => (u.id === user.id ? user : u)));

  const changePlan = async (user: User, plan: string) => {
    setSaving(user.id);
    setFailure(null);
    try {
      replace(await api.updateUser(user.id, { plan }));
      toast(`${user.email} is now on the ${plan} plan.`);
    } catch (error) {
      setFailure((error as ApiError).message);
    } finally {
      setSaving(null);
    }
  };

  return (
    <>
      <PageHeader
        title="Users"
        description="Everyone with an account on this Keyward server, their plan and their status."
      />
      {failure && <Alert>{failure}</Alert>}
      {plans.length > 0 && (
        <p className="plans-line">
          Plans:{' '}
          {plans.map((plan) => (
            <span key={plan.name} className="tag">
              {planLabel(plan)}
            </span>
          ))}
        </p>
      )}
      {users === null && !failure && <Spinner label="Loading users" />}
      {users !== null && (
        <div className="card table-card">
          <table className="table">
            <caption className="visually-hidden">Users</caption>
            <TableHead
              columns={['Email', 'Role', 'Plan', 'Account limits', 'Status', 'Joined']}
              actions
            />
            <tbody>
              {users.map((user) => (
                <tr key={user.id}>
                  <td data-label="Email" className="cell-name">
                    {user.email}
                    {user.id === me.user.id && <span className="muted"> (you)</span>}
                  </td>
                  <td data-label="Role">{user.role === 'admin' ? 'Admin' : 'User'}</td>
                  <td data-label="Plan">
                    <label className="visually-hidden" htmlFor={`plan-${user.id}`}>
                      Plan of {user.email}
                    </label>
                    <select
                      id={`plan-${user.id}`}
                      className="select-small"
                      value={user.plan}
                      disabled={saving === user.id}
                      onChange={(event) => changePlan(user, event.target.value)}
                    >
                      {!plans.some((p) => p.name === user.plan) && (
                        <option value={user.plan}>{user.plan}</option>
                      )}
                      {plans.map((plan) => (
                        <option key={plan.name} value={plan.name}>
                          {planLabel(plan)}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td data-label="Account limits" data-testid={`limits-${user.id}`}>
                    {describeAccountLimits(user) ?? <span className="muted">None</span>}
                  </td>
                  <td data-label="Status">
                    <span className={`badge ${user.disabled ? 'badge-revoked' : 'badge-active'}`}>
                      {user.disabled ? 'Disabled' : 'Active'}
                    </span>
                  </td>
                  <td data-label="Joined">{formatDate(user.created_at)}</td>
                  <td className="cell-actions">
                    <div className="actions">
                      <Button
                        variant="ghost"
                        size="sm"
                        aria-label={`Account limits of ${user.email}`}
                        onClick={() => setEditing(user)}
                      >
                        Limits
                      </Button>
                      {user.id !== me.user.id && (
                        <Button
                          variant="ghost"
                          size="sm"
                          className={user.disabled ? '' : 'danger-text'}
                          aria-label={`${user.disabled ? 'Enable' : 'Disable'} ${user.email}`}
                          onClick={() => setConfirm(user)}
                        >
                          {user.disabled ? 'Enable' : 'Disable'}
                        </Button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {cursor !== null && (
            <div className="card-footer">
              <Button size="sm" onClick={() => load(cursor)}>
                Load more
              </Button>
            </div>
          )}
        </div>
      )}
      {editing && (
        <LimitsDialog
          user={editing}
          onClose={() => setEditing(null)}
          onSaved={(updated) => {
            replace(updated);
            setEditing(null);
            toast(`Account limits of ${updated.email} saved.`);
          }}
        />
      )}
      {confirm && (
        <ConfirmDialog
          title={`${confirm.disabled ? 'Enable' : 'Disable'} ${confirm.email}?`}
          confirmLabel={confirm.disabled ? 'Enable account' : 'Disable account'}
          danger={!confirm.disabled}
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            const updated = await api.updateUser(confirm.id, { disabled: !confirm.disabled });
            replace(updated);
            setConfirm(null);
            toast(`${updated.email} is ${updated.disabled ? 'disabled' : 'enabled'}.`);
          }}
        >
          <p>
            {confirm.disabled
              ? 'The account can sign in again, and its keys and tokens work again.'
              : 'The account is signed out everywhere, and its keys and tokens stop working at once. You can enable it again later.'}
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
