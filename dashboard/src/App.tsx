import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { type ApiError, api, type Me, onSessionLost, setCsrfToken } from './api.ts';
import { Alert, Button, Spinner, ToastProvider } from './components/ui.tsx';
import { Account } from './pages/Account.tsx';
import { AdminInvitations } from './pages/AdminInvitations.tsx';
import { AdminServiceTokens } from './pages/AdminServiceTokens.tsx';
import { AdminUsers } from './pages/AdminUsers.tsx';
import { AuditLog } from './pages/AuditLog.tsx';
import { AuthPage, ReauthDialog } from './pages/Auth.tsx';
import { KeyDetail } from './pages/KeyDetail.tsx';
import { KeysPage } from './pages/Keys.tsx';
import { NotFound } from './pages/NotFound.tsx';
import { ForgotPasswordPage, InvitePage, ResetPasswordPage } from './pages/Recovery.tsx';
import { TokensPage } from './pages/Tokens.tsx';
import { WebhookDetail, WebhooksPage } from './pages/Webhooks.tsx';
import { Link, match, navigate, useLocation } from './router.tsx';
import { type Session, SessionContext, safeNext, useSession } from './session.ts';

type State =
  | { status: 'loading' }
  | { status: 'error'; message: string }
  /** `email`: the address of the session that ended, kept in the sign-in form. */
  | { status: 'signed-out'; message: string | null; email?: string }
  /** `lost`: the session ended while the page was open; a sign-in dialog covers it. */
  | { status: 'signed-in'; me: Me; lost?: boolean };

const SESSION_ENDED = 'Your session has ended. Sign in again to continue.';
const PASSWORD_RESET = 'Your password has been changed. Sign in with the new password.';

export function App() {
  const [state, setState] = useState<State>({ status: 'loading' });
  const location = useLocation();

  const load = useCallback(async () => {
    try {
      const me = await api.me({ anonymous: true });
      setCsrfToken(me.csrf_token);
      setState({ status: 'signed-in', me });
    } catch (error) {
      const apiError = error as ApiError;
      if (apiError.status === 401) setState({ status: 'signed-out', message: null });
      else setState({ status: 'error', message: apiError.message });
    }
  }, []);

  useEffect(() => {
    load();
  }, [load]);

  // Any request refused with 401 while signed in: the session expired or was ended elsewhere.
  // The page stays (a half-filled dialog included) under a sign-in dialog for the same account.
  useEffect(() => {
    onSessionLost(() => {
      setCsrfToken(null);
      setState((current) =>
        current.status === 'signed-in'
          ? { status: 'signed-in', me: current.me, lost: true }
          : current,
      );
    });
    return () => onSessionLost(null);
  }, []);

  const onSignedIn = useCallback(async (next: string) => {
    const me = await api.me();
    setCsrfToken(me.csrf_token);
    setState({ status: 'signed-in', me });
    navigate(next, { replace: true });
  }, []);

  const refresh = useCallback(async () => {
    const me = await api.me();
    setCsrfToken(me.csrf_token);
    setState({ status: 'signed-in', me });
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api.logout();
    } finally {
      setCsrfToken(null);
      setState({ status: 'signed-out', message: 'You have signed out.' });
      navigate('/login', { replace: true });
    }
  }, []);

  /** Gives up on the covered page: the full sign-in page, with the account's email filled in. */
  const leaveLostSession = useCallback((email: string) => {
    setState({ status: 'signed-out', message: SESSION_ENDED, email });
  }, []);

  const me = state.status === 'signed-in' ? state.me : null;
  const session = useMemo<Session | null>(
    () => (me === null ? null : { me, refresh, signOut }),
    [me, refresh, signOut],
  );

  const { path } = location;
  const authPath = path === '/login' || path === '/signup';
  // Pages opened from a link (or from the sign-in page) that work whether or not anyone is signed in.
  const inviteToken = match('/invite/:token', path)?.token;
  const resetToken = match('/reset-password/:token', path)?.token;
  const linkPage =
    inviteToken !== undefined || resetToken !== undefined || path === '/forgot-password';

  // Keep the URL in step with the state: signed out → /login?next=…, signed in → away from /login.
  useEffect(() => {
    if (linkPage) return;
    if (state.status === 'signed-out' && !authPath) {
      const next = `${window.location.pathname}${window.location.search}`;
      navigate(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`, {
        replace: true,
      });
    } else if (state.status === 'signed-in' && (authPath || path === '/')) {
      navigate(safeNext(location.search.get('next')), { replace: true });
    }
  }, [state.status, authPath, linkPage, path, location.search]);

  if (linkPage) {
    return (
      <ToastProvider>
        {inviteToken !== undefined ? (
          <InvitePage token={inviteToken} onSignedIn={(next) => onSignedIn(next)} />
        ) : resetToken !== undefined ? (
          <ResetPasswordPage
            token={resetToken}
            onDone={() => {
              setCsrfToken(null);
              setState({ status: 'signed-out', message: PASSWORD_RESET });
              navigate('/login', { replace: true });
            }}
          />
        ) : (
          <ForgotPasswordPage />
        )}
      </ToastProvider>
    );
  }
  if (state.status === 'loading') return <Spinner label="Loading Keyward" />;
  if (state.status === 'error') {
    return (
      <main className="auth-screen">
        <div className="auth-card">
          <h1>Keyward</h1>
          <Alert>{state.message}</Alert>
          <Button variant="primary" onClick={() => load()}>
            Try again
          </Button>
        </div>
      </main>
    );
  }
  if (state.status === 'signed-out') {
    return (
      <ToastProvider>
        <AuthPage
          mode={path === '/signup' ? 'signup' : 'login'}
          message={state.message}
          initialEmail={state.email ?? ''}
          onSignedIn={(next) => onSignedIn(next)}
        />
      </ToastProvider>
    );
  }
  if (session === null) return null;
  return (
    <SessionContext.Provider value={session}>
      <ToastProvider>
        <Shell path={path}>
          <Routes path={path} />
        </Shell>
        {state.status === 'signed-in' && state.lost && (
          <ReauthDialog
            email={state.me.user.email}
            onSignedIn={refresh}
            onLeave={() => leaveLostSession(state.me.user.email)}
          />
        )}
      </ToastProvider>
    </SessionContext.Provider>
  );
}

function Routes({ path }: { path: string }) {
  if (path === '/keys' || path === '/' || path === '/login' || path === '/signup')
    return <KeysPage />;
  const key = match('/keys/:id', path);
  if (key?.id) return <KeyDetail id={key.id} />;
  if (path === '/tokens') return <TokensPage />;
  if (path === '/webhooks') return <WebhooksPage />;
  const webhook = match('/webhooks/:id', path);
  if (webhook?.id) return <WebhookDetail id={webhook.id} />;
  if (path === '/audit-log') return <AuditLog />;
  if (path === '/account') return <Account />;
  if (path === '/admin/users') return <AdminUsers />;
  if (path === '/admin/service-tokens') return <AdminServiceTokens />;
  if (path === '/admin/invitations') return <AdminInvitations />;
  return <NotFound />;
}

interface NavItem {
  to: string;
  label: string;
  admin?: boolean;
}

const NAV: NavItem[] = [
  { to: '/keys', label: 'API keys' },
  { to: '/tokens', label: 'Management tokens' },
  { to: '/webhooks', label: 'Webhooks' },
  { to: '/audit-log', label: 'Audit log' },
  { to: '/account', label: 'Account' },
  { to: '/admin/users', label: 'Users', admin: true },
  { to: '/admin/service-tokens', label: 'Service tokens', admin: true },
  { to: '/admin/invitations', label: 'Invitations', admin: true },
];

function Shell({ path, children }: { path: string; children: ReactNode }) {
  const { me, signOut } = useSession();
  const [menuOpen, setMenuOpen] = useState(false);
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After a navigation, move focus to the new page's title (not on the first load).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on every change of path
  useEffect(() => {
    setMenuOpen(false);
    if (first.current) {
      first.current = false;
      return;
    }
    window.scrollTo(0, 0);
    const frame = requestAnimationFrame(() => {
      mainRef.current?.querySelector<HTMLElement>('[data-page-title]')?.focus();
    });
    return () => cancelAnimationFrame(frame);
  }, [path]);

  const isAdmin = me.user.role === 'admin';
  const current = (to: string) => path === to || path.startsWith(`${to}/`);
  const link = (item: NavItem) => (
    <li key={item.to}>
      <Link
        to={item.to}
        className={current(item.to) ? 'nav-link active' : 'nav-link'}
        aria-current={current(item.to) ? 'page' : undefined}
      >
        {item.label}
      </Link>
    </li>
  );

  return (
    <div className="layout">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="sidebar">
        <div className="sidebar-top">
          <Link to="/keys" className="brand" aria-label="Keyward home">
            <img src="/favicon.svg" alt="" width="26" height="26" />
            <span>Keyward</span>
          </Link>
          <button
            type="button"
            className="menu-button"
            aria-expanded={menuOpen}
            aria-controls="main-nav"
            onClick={() => setMenuOpen((open) => !open)}
          >
            Menu
          </button>
        </div>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? 'nav open' : 'nav'}>
          <ul>{NAV.filter((item) => !item.admin).map(link)}</ul>
          {isAdmin && (
            <>
              <p className="nav-section">Admin</p>
              <ul>{NAV.filter((item) => item.admin).map(link)}</ul>
            </>
          )}
          <div className="nav-user">
            <span className="nav-email" title={me.user.email}>
              {me.user.email}
            </span>
            <Button variant="link" size="sm" onClick={() => signOut()}>
              Sign out
            </Button>
          </div>
        </nav>
      </header>
      <main id="main" ref={mainRef} className="main">
        {children}
      </main>
    </div>
  );
}
