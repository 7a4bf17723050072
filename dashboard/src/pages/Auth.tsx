import { type FormEvent, useEffect, useRef, useState } from 'react';
import { type ApiError, type AuthOptions, api, setCsrfToken } from '../api.ts';
import { Alert, Button, Dialog, Field } from '../components/ui.tsx';
import { Link, useLocation } from '../router.tsx';
import { safeNext } from '../session.ts';

export const MIN_PASSWORD = 12;
export const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** The server's sign-up mode and whether it mails reset links; null until known (or unknown). */
export function useAuthOptions(): AuthOptions | null {
  const [options, setOptions] = useState<AuthOptions | null>(null);
  useEffect(() => {
    api
      .authOptions()
      .then(setOptions)
      .catch(() => setOptions(null));
  }, []);
  return options;
}

/** The brand above every signed-out card. */
export function AuthBrand() {
  return (
    <div className="auth-brand">
      <img src="/favicon.svg" alt="" width="36" height="36" />
      <span>Keyward</span>
    </div>
  );
}

export function AuthPage({
  mode,
  message,
  initialEmail = '',
  onSignedIn,
}: {
  mode: 'login' | 'signup';
  message: string | null;
  /** The address of a session that just ended, so the form does not ask for it again. */
  initialEmail?: string;
  onSignedIn: (next: string) => Promise<void>;
}) {
  const { search } = useLocation();
  const options = useAuthOptions();
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<{ email?: string; password?: string }>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const signup = mode === 'signup';

  useEffect(() => {
    document.title = signup ? 'Create your account · Keyward' : 'Sign in · Keyward';
    setFailure(null);
    setErrors({});
  }, [signup]);

  const validate = () => {
    const next: typeof errors = {};
    if (!EMAIL.test(email.trim())) next.email = 'Enter an email address, like you@example.com.';
    if (password === '') next.password = 'Enter your password.';
    else if (signup && [...password].length < MIN_PASSWORD)
      next.password = `Use at least ${MIN_PASSWORD} characters.`;
    setErrors(next);
    return Object.keys(next).length === 0;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    if (!validate()) return;
    setBusy(true);
    try {
      const answer = signup
        ? await api.signup(email.trim(), password)
        : await api.login(email.trim(), password);
      setCsrfToken(answer.csrf_token);
      await onSignedIn(safeNext(search.get('next')));
    } catch (error) {
      setFailure((error as ApiError).message);
      setBusy(false);
      heading.current?.focus();
    }
  };

  const other = signup ? '/login' : '/signup';
  const nextParam = search.get('next');
  const otherHref = nextParam ? `${other}?next=${encodeURIComponent(nextParam)}` : other;
  // Until the options are known, sign-up is offered as before; a closed server then hides it.
  const signupOpen = options === null || options.signup === 'open';

  if (signup && !signupOpen) {
    return (
      <main className="auth-screen">
        <AuthBrand />
        <div className="auth-card">
          <h1>Create your account</h1>
          <Alert kind="info">
            {options?.signup === 'invite'
              ? 'Accounts on this Keyward server are by invitation only. Open the link of your invitation, or ask its operator for one.'
              : 'This Keyward server does not take new accounts. Ask its operator for one.'}
          </Alert>
        </div>
        <p className="auth-switch">
          Already have an account? <Link to={otherHref}>Sign in</Link>
        </p>
      </main>
    );
  }

  return (
    <main className="auth-screen">
      <AuthBrand />
      <div className="auth-card">
        <h1 ref={heading} tabIndex={-1}>
          {signup ? 'Create your account' : 'Sign in to Keyward'}
        </h1>
        <p className="muted">
          {signup
            ? 'Create API keys for your applications, and see how they are used.'
            : 'Manage your API keys, tokens and usage.'}
        </p>
        {message && !failure && <Alert kind="info">{message}</Alert>}
        {failure && <Alert>{failure}</Alert>}
        <form onSubmit={submit} noValidate>
          <Field label="Email" error={errors.email}>
            <input
              type="email"
              name="email"
              autoComplete={signup ? 'email' : 'username'}
              value={email}
              onChange={(event) => setEmail(event.target.value)}
              required
            />
          </Field>
          <Field
            label="Password"
            error={errors.password}
            hint={
              signup ? `At least ${MIN_PASSWORD} characters. A passphrase works well.` : undefined
            }
          >
            <input
              type="password"
              name="password"
              autoComplete={signup ? 'new-password' : 'current-password'}
              value={password}
              onChange={(event) => setPassword(event.target.value)}
              required
            />
          </Field>
          <Button type="submit" variant="primary" busy={busy} className="btn-block">
            {signup ? 'Create account' : 'Sign in'}
          </Button>
        </form>
        {!signup && options?.password_reset_by_email && (
          <p className="auth-extra">
            <Link to="/forgot-password">Forgot password?</Link>
          </p>
        )}
      </div>
      {(signup || signupOpen) && (
        <p className="auth-switch">
          {signup ? 'Already have an account?' : 'New to Keyward?'}{' '}
          <Link to={otherHref}>{signup ? 'Sign in' : 'Create an account'}</Link>
        </p>
      )}
    </main>
  );
}

/**
 * The session ended while a page was open: sign in again to the same account without losing the
 * page, a half-filled form included, then send it again.
 */
export function ReauthDialog({
  email,
  onSignedIn,
  onLeave,
}: {
  email: string;
  onSignedIn: () => Promise<void>;
  onLeave: () => void;
}) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    if (password === '') {
      setError('Enter your password.');
      return;
    }
    setError(undefined);
    setBusy(true);
    try {
      const answer = await api.login(email, password);
      setCsrfToken(answer.csrf_token);
      await onSignedIn();
    } catch (caught) {
      setFailure((caught as ApiError).message);
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="Your session has ended"
      description="Sign in again to carry on where you were: nothing on this page is lost. Then send what you were doing once more."
      onClose={onLeave}
    >
      <form onSubmit={submit} noValidate>
        <div className="dialog-body">
          {failure && <Alert>{failure}</Alert>}
          <Field label="Email">
            <input type="email" value={email} readOnly autoComplete="username" />
          </Field>
          <Field label="Password" error={error}>
            <input
              type="password"
              value={password}
              onChange={(event) => setPassword(event.target.value)}
              autoComplete="current-password"
              data-autofocus
            />
          </Field>
        </div>
        <div className="dialog-footer">
          <Button onClick={onLeave}>Go to the sign-in page</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Sign in
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
