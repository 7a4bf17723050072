import { type FormEvent, useEffect, useState } from 'react';
import {
  type ApiError,
  api,
  type MailKind,
  type NotificationSettings,
  setCsrfToken,
} from '../api.ts';
import { Alert, Button, Field, PageHeader } from '../components/ui.tsx';
import { describeAccountLimits, formatDate } from '../format.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.ts';

const MIN_PASSWORD = 12;

function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<{ current?: string; next?: string; confirm?: string }>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(false);
    setFailure(null);
    const found: typeof errors = {};
    if (current === '') found.current = 'Enter your current password.';
    if ([...next].length < MIN_PASSWORD) found.next = `Use at least ${MIN_PASSWORD} characters.`;
    else if (next === current) found.next = 'Choose a password different from the current one.';
    if (confirm !== next) found.confirm = 'The two new passwords are not the same.';
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const answer = await api.changePassword(current, next);
      setCsrfToken(answer.csrf_token);
      setDone(true);
      setCurrent('');
      setNext('');
      setConfirm('');
    } catch (error) {
      setFailure((error as ApiError).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate className="narrow-form">
      {failure && <Alert>{failure}</Alert>}
      {done && (
        <Alert kind="success">
          Your password has been changed. Every other session of this account was signed out.
        </Alert>
      )}
      <input type="text" name="username" autoComplete="username" hidden readOnly value="" />
      <Field label="Current password" error={errors.current}>
        <input
          type="password"
          autoComplete="current-password"
          value={current}
          onChange={(event) => setCurrent(event.target.value)}
        />
      </Field>
      <Field label="New password" error={errors.next} hint={`At least ${MIN_PASSWORD} characters.`}>
        <input
          type="password"
          autoComplete="new-password"
          value={next}
          onChange={(event) => setNext(event.target.value)}
        />
      </Field>
      <Field label="Repeat the new password" error={errors.confirm}>
        <input
          type="password"
          autoComplete="new-password"
          value={confirm}
          onChange={(event) => setConfirm(event.target.value)}
        />
      </Field>
      <Button type="submit" variant="primary" busy={busy}>
        Change password
      </Button>
    </form>
  );
}

const MAIL_KINDS: Array<{ kind: MailKind; label: string; hint: string }> = [
  {
    kind: 'key.expiring',
    label: 'A key is about to expire',
    hint: '7 days and 1 day before its expiry.',
  },
  {
    kind: 'key.leaked',
    label: 'A key was found in public and revoked',
    hint: 'Sent when a secret-scanning report names one of your keys.',
  },
  {
    kind: 'usage.threshold',
    label: 'A key reaches 80 % or 100 % of a quota or of its credits',
    hint: 'Once per period and threshold.',
  },
];

function NotificationSwitches() {
  const [settings, setSettings] = useState<NotificationSettings | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState<MailKind | null>(null);

  useEffect(() => {
    api
      .notifications()
      .then(setSettings)
      .catch((error: ApiError) => setFailure(error.message));
  }, []);

  const toggle = async (kind: MailKind, on: boolean) => {
    setBusy(kind);
    setFailure(null);
    setSaved(null);
    try {
      setSettings(await api.updateNotifications({ [kind]: on }));
      setSaved(on ? 'Switched on.' : 'Switched off.');
    } catch (error) {
      setFailure((error as ApiError).message);
    } finally {
      setBusy(null);
    }
  };

  if (settings === null)
    return failure === null ? <p className="muted">Loading…</p> : <Alert>{failure}</Alert>;
  const off = !settings.mail_configured;
  return (
    <fieldset className="plain-fieldset" aria-describedby={off ? 'mail-off-hint' : undefined}>
      <legend className="visually-hidden">Email me when</legend>
      {failure && <Alert>{failure}</Alert>}
      {off && (
        <p className="hint" id="mail-off-hint">
          This server does not send email (no SMTP server is configured), so these switches have no
          effect. Ask its operator to set SMTP_URL and MAIL_FROM.
        </p>
      )}
      <ul className="switch-list">
        {MAIL_KINDS.map(({ kind, label, hint }) => (
          <li key={kind}>
            <label>
              <input
                type="checkbox"
                checked={settings.email[kind]}
                disabled={off || busy !== null}
                onChange={(event) => toggle(kind, event.target.checked)}
              />
              <span>
                {label}
                <span className="hint"> {hint}</span>
              </span>
            </label>
          </li>
        ))}
      </ul>
      <p className="hint" role="status">
        {saved}
      </p>
    </fieldset>
  );
}

export function Account() {
  const { me, refresh, signOut } = useSession();
  const { plan, keys_used, keys_limit } = me.plan_usage;

  useEffect(() => {
    document.title = 'Account · Keyward';
    refresh().catch(() => {});
  }, [refresh]);

  const share = keys_limit === null || keys_limit === 0 ? 0 : Math.min(1, keys_used / keys_limit);
  const accountLimits = describeAccountLimits(me.user);

  return (
    <>
      <PageHeader title="Account" actions={<Button onClick={() => signOut()}>Sign out</Button>} />
      <div className="columns">
        <section className="card" aria-labelledby="plan-title">
          <div className="card-header">
            <h2 id="plan-title">Plan</h2>
          </div>
          <div className="card-body">
            <p className="plan-name">
              <span className="plan-badge">{plan}</span>
            </p>
            <p className="plan-count" data-testid="plan-usage">
              {keys_limit === null
                ? `${keys_used} keys used (no limit)`
                : `${keys_used} of ${keys_limit} keys used`}
            </p>
            {keys_limit !== null && (
              <progress
                className="meter meter-large"
                max={keys_limit || 1}
                value={Math.min(keys_used, keys_limit)}
                aria-label={`${Math.round(share * 100)}% of the plan's keys used`}
              />
            )}
            <p className="hint">
              Keys that are revoked, expired or deleted do not count. To change plan, ask the
              operator of this Keyward server.
            </p>
            {accountLimits !== null && (
              <>
                <p className="plan-count" data-testid="account-limits">
                  Account limits: {accountLimits}
                </p>
                <p className="hint">
                  Set by the operator. They apply to all your keys together, after each key's own
                  limits.
                </p>
              </>
            )}
            <p>
              <Link to="/keys">Manage your keys →</Link>
            </p>
          </div>
        </section>
        <section className="card" aria-labelledby="profile-title">
          <div className="card-header">
            <h2 id="profile-title">Profile</h2>
          </div>
          <dl className="details card-body">
            <div>
              <dt>Email</dt>
              <dd>{me.user.email}</dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>{me.user.role === 'admin' ? 'Administrator' : 'User'}</dd>
            </div>
            <div>
              <dt>Member since</dt>
              <dd>{formatDate(me.user.created_at)}</dd>
            </div>
            <div>
              <dt>Your IP address</dt>
              <dd>
                <code>{me.ip}</code>
              </dd>
            </div>
          </dl>
        </section>
      </div>
      <section className="card" aria-labelledby="notifications-title">
        <div className="card-header">
          <h2 id="notifications-title">Email notifications</h2>
        </div>
        <div className="card-body">
          <NotificationSwitches />
        </div>
      </section>
      <section className="card" aria-labelledby="password-title">
        <div className="card-header">
          <h2 id="password-title">Change password</h2>
        </div>
        <div className="card-body">
          <PasswordForm />
        </div>
      </section>
    </>
  );
}
