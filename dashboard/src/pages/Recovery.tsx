// The signed-out pages reached from a link: "Forgot password?", the password-reset link and the
// invitation link. The tokens stay in the page (they are the credentials); the API calls send
// them in request bodies.
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { type ApiError, api, type Invitation, setCsrfToken } from '../api.ts';
import { Alert, Button, Field, Spinner } from '../components/ui.tsx';
import { formatDateTime } from '../format.ts';
import { Link } from '../router.tsx';
import { AuthBrand, EMAIL, MIN_PASSWORD } from './Auth.tsx';

function Card({ title, children }: { title: string; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Keyward`;
  }, [title]);
  return (
    <main className="auth-screen">
      <AuthBrand />
      <div className="auth-card">
        <h1 tabIndex={-1}>{title}</h1>
        {children}
      </div>
      <p className="auth-switch">
        <Link to="/login">Back to sign in</Link>
      </p>
    </main>
  );
}

/** Checks a new password and its confirmation as the server will; returns the problems. */
function passwordErrors(password: string, confirm: string) {
  const errors: { password?: string; confirm?: string } = {};
  if ([...password.trim()].length < MIN_PASSWORD)
    errors.password = `Use at least ${MIN_PASSWORD} characters.`;
  else if (confirm !== password) errors.confirm = 'The two passwords are not the same.';
  return errors;
}

/** A new password and its repetition, checked by the same rules on the reset and invitation pages. */
function NewPasswordFields(props: {
  label: string;
  repeatLabel: string;
  password: string;
  confirm: string;
  errors: { password?: string; confirm?: string };
  onPassword: (value: string) => void;
  onConfirm: (value: string) => void;
}) {
  return (
    <>
      <Field
        label={props.label}
        error={props.errors.password}
        hint={`At least ${MIN_PASSWORD} characters. A passphrase works well.`}
      >
        <input
          type="password"
          name="new-password"
          autoComplete="new-password"
          value={props.password}
          onChange={(event) => props.onPassword(event.target.value)}
          required
        />
      </Field>
      <Field label={props.repeatLabel} error={props.errors.confirm}>
        <input
          type="password"
          name="confirm-password"
          autoComplete="new-password"
          value={props.confirm}
          onChange={(event) => props.onConfirm(event.target.value)}
          required
        />
      </Field>
    </>
  );
}

export function ForgotPasswordPage() {
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [failure, setFailure] = useState<string | null>(null);
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    if (!EMAIL.test(email.trim())) {
      setError('Enter an email address, like you@example.com.');
      return;
    }
    setError(undefined);
    setBusy(true);
    try {
      await api.forgotPassword(email.trim());
      setSent(true);
    } catch (caught) {
      setFailure((caught as ApiError).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title="Reset your password">
      {sent ? (
        <Alert kind="success" title="Check your inbox">
          If an account with this email exists, we have sent it a link to choose a new password. The
          link works once, for one hour.
        </Alert>
      ) : (
        <>
          <p className="muted">
            Enter the email of your account and we will send you a link to choose a new password.
          </p>
          {failure && <Alert>{failure}</Alert>}
          <form onSubmit={submit} noValidate>
            <Field label="Email" error={error}>
              <input
                type="email"
                name="email"
                autoComplete="username"
                value={email}
                onChange={(event) => setEmail(event.target.value)}
                required
              />
            </Field>
            <Button type="submit" variant="primary" busy={busy} className="btn-block">
              Send reset link
            </Button>
          </form>
        </>
      )}
    </Card>
  );
}

export function ResetPasswordPage({
  token,
  onDone,
}: {
  token: string;
  /** The password is changed: back to sign-in, with a message. */
  onDone: () => void;
}) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<{ password?: string; confirm?: string }>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    const found = passwordErrors(password, confirm);
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      await api.resetPassword(token, password);
      onDone();
    } catch (caught) {
      setFailure((caught as ApiError).message);
      setBusy(false);
    }
  };

  return (
    <Card title="Choose a new password">
      <p className="muted">
        Setting a new password signs your account out everywhere. Then sign in with the new one.
      </p>
      {failure && <Alert>{failure}</Alert>}
      <form onSubmit={submit} noValidate>
        <NewPasswordFields
          label="New password"
          repeatLabel="Repeat the new password"
          password={password}
          confirm={confirm}
          errors={errors}
          onPassword={setPassword}
          onConfirm={setConfirm}
        />
        <Button type="submit" variant="primary" busy={busy} className="btn-block">
          Set new password
        </Button>
      </form>
    </Card>
  );
}

export function InvitePage({
  token,
  onSignedIn,
}: {
  token: string;
  onSignedIn: (next: string) => Promise<void>;
}) {
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const [broken, setBroken] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<{ email?: string; password?: string; confirm?: string }>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api
      .lookupInvitation(token)
      .then(setInvitation)
      .catch((caught: ApiError) => setBroken(caught.message));
  }, [token]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (invitation === null) return;
    setFailure(null);
    const found: typeof errors = passwordErrors(password, confirm);
    if (invitation.email === null && !EMAIL.test(email.trim()))
      found.email = 'Enter an email address, like you@example.com.';
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const answer = await api.acceptInvitation({
        token,
        password,
        ...(invitation.email === null && { email: email.trim() }),
      });
      setCsrfToken(answer.csrf_token);
      await onSignedIn('/keys');
    } catch (caught) {
      setFailure((caught as ApiError).message);
      setBusy(false);
    }
  };

  if (broken !== null) {
    return (
      <Card title="Invitation">
        <Alert>{broken}</Alert>
        <p className="muted">Ask the person who invited you for a new invitation.</p>
      </Card>
    );
  }
  if (invitation === null) return <Spinner label="Opening your invitation" />;
  return (
    <Card title="Create your account">
      <p className="muted">
        You are invited to Keyward
        {invitation.role === 'admin' ? ' as an administrator' : ''} on the {invitation.plan} plan.
        This invitation works until {formatDateTime(invitation.expires_at)}.
      </p>
      {failure && <Alert>{failure}</Alert>}
      <form onSubmit={submit} noValidate>
        {invitation.email === null ? (
          <Field label="Email" error={errors.email}>
            <input
              type="email"
              name="email"
              autoComplete="email"
              value={email}
              onChange={(event) => setEmail(event.target.value)}
              required
            />
          </Field>
        ) : (
          <Field label="Email" hint="The invitation is for this address.">
            <input
              type="email"
              name="email"
              autoComplete="email"
              value={invitation.email}
              readOnly
            />
          </Field>
        )}
        <NewPasswordFields
          label="Password"
          repeatLabel="Repeat the password"
          password={password}
          confirm={confirm}
          errors={errors}
          onPassword={setPassword}
          onConfirm={setConfirm}
        />
        <Button type="submit" variant="primary" busy={busy} className="btn-block">
          Create account
        </Button>
      </form>
    </Card>
  );
}
