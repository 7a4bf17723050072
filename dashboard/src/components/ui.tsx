// Small, accessible building blocks: dialogs on <dialog>, labelled fields, badges, alerts.
import {
  type ButtonHTMLAttributes,
  cloneElement,
  createContext,
  type ReactElement,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useId,
  useLayoutEffect,
  useRef,
  useState,
} from 'react';
import type { ApiKey } from '../api.ts';
import { EXPIRY_CUE_MS, expiresIn, formatDateTime, relativeTime } from '../format.ts';

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: 'primary' | 'secondary' | 'danger' | 'ghost' | 'link';
  size?: 'sm' | 'md';
  busy?: boolean;
};

export function Button({
  variant = 'secondary',
  size = 'md',
  busy = false,
  className,
  children,
  disabled,
  type = 'button',
  ...rest
}: ButtonProps) {
  return (
    <button
      type={type}
      className={`btn btn-${variant} btn-${size}${className ? ` ${className}` : ''}`}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      {...rest}
    >
      {busy && <span className="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

/** A modal dialog: focus moves in, Tab stays in, Escape closes, focus returns to the opener. */
export function Dialog({
  title,
  description,
  onClose,
  children,
  wide = false,
  labelledBy,
}: {
  title: ReactNode;
  description?: ReactNode;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
  labelledBy?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const opener = useRef<Element | null>(null);
  useLayoutEffect(() => {
    const dialog = ref.current;
    opener.current = document.activeElement;
    if (dialog && !dialog.open) {
      dialog.showModal();
      // React handles autoFocus itself, before the dialog is shown; this marker works instead.
      dialog.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    }
    return () => {
      if (dialog?.open) dialog.close();
      const previous = opener.current;
      if (previous instanceof HTMLElement && previous.isConnected)
        requestAnimationFrame(() => previous.focus());
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={`dialog${wide ? ' dialog-wide' : ''}`}
      aria-labelledby={labelledBy ?? titleId}
      aria-describedby={description ? descriptionId : undefined}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <div className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon-button" aria-label="Close" onClick={onClose}>
          <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
            <path
              d="M5 5l10 10M15 5L5 15"
              stroke="currentColor"
              strokeWidth="1.8"
              strokeLinecap="round"
            />
          </svg>
        </button>
      </div>
      {description && (
        <p className="dialog-description" id={descriptionId}>
          {description}
        </p>
      )}
      {children}
    </dialog>
  );
}

/** A label, a control, a hint and an inline error, wired together for screen readers. */
export function Field({
  label,
  hint,
  error,
  children,
  optional = false,
  className,
}: {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | undefined;
  children: ReactElement<Record<string, unknown>>;
  optional?: boolean;
  className?: string;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(' ');
  const control = cloneElement(children, {
    id,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy || undefined,
  });
  return (
    <div className={`field${error ? ' field-invalid' : ''}${className ? ` ${className}` : ''}`}>
      <label htmlFor={id}>
        {label}
        {optional && <span className="optional"> (optional)</span>}
      </label>
      {control}
      {hint && !error && (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}

export function Alert({
  kind = 'error',
  children,
  title,
}: {
  kind?: 'error' | 'warning' | 'info' | 'success';
  children: ReactNode;
  title?: ReactNode;
}) {
  return (
    <div className={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {title && <strong className="alert-title">{title}</strong>}
      <div>{children}</div>
    </div>
  );
}

export type DisplayStatus = 'active' | 'unused' | 'disabled' | 'expired' | 'revoked';

/** The status a person sees: an active key that was never used is "Not used". */
export function displayStatus(key: ApiKey): DisplayStatus {
  if (key.status === 'active' && key.last_used_at === null) return 'unused';
  return key.status;
}

const STATUS_LABEL: Record<DisplayStatus, string> = {
  active: 'Active',
  unused: 'Not used',
  disabled: 'Disabled',
  expired: 'Expired',
  revoked: 'Revoked',
};

export function StatusBadge({ apiKey }: { apiKey: ApiKey }) {
  const status = displayStatus(apiKey);
  return <span className={`badge badge-${status}`}>{STATUS_LABEL[status]}</span>;
}

/**
 * "Expires in 3 days" beside a key that still works and stops within 7 days (the exact instant
 * in its title); nothing otherwise.
 */
export function ExpiryCue({ apiKey, now }: { apiKey: ApiKey; now: number }) {
  if (apiKey.expires_at === null || apiKey.status === 'revoked' || apiKey.status === 'expired')
    return null;
  const left = new Date(apiKey.expires_at).getTime() - now;
  if (left <= 0 || left > EXPIRY_CUE_MS) return null;
  return (
    <span className="badge badge-expiring" title={formatDateTime(apiKey.expires_at)}>
      {expiresIn(left)}
    </span>
  );
}

/** An environment's name as the dashboard shows it: `staging` → Staging. */
export function environmentLabel(environment: string): string {
  return environment.charAt(0).toUpperCase() + environment.slice(1);
}

export function EnvBadge({ environment }: { environment: string }) {
  const tone = environment === 'live' || environment === 'test' ? environment : 'other';
  return <span className={`env env-${tone}`}>{environmentLabel(environment)}</span>;
}

/** Re-renders every 30 seconds so that "2 minutes ago" stays true. */
export function useNow(intervalMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export function RelativeTime({
  iso,
  now,
  never = 'Never',
}: {
  iso: string | null;
  now: number;
  never?: string;
}) {
  if (iso === null) return <span className="muted">{never}</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {relativeTime(iso, now)}
    </time>
  );
}

/** Copies text; says so to sighted users and screen readers. */
export function CopyButton({
  text,
  label = 'Copy',
  autoFocus = false,
}: {
  text: string;
  label?: string;
  autoFocus?: boolean;
}) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    window.setTimeout(() => setState('idle'), 2500);
  };
  return (
    <>
      <Button
        variant="primary"
        onClick={copy}
        className="copy-button"
        {...(autoFocus && { 'data-autofocus': true })}
      >
        {state === 'copied' ? 'Copied' : label}
      </Button>
      <span className="visually-hidden" aria-live="polite">
        {state === 'copied'
          ? 'Copied to the clipboard'
          : state === 'failed'
            ? 'Copying failed: select the text and copy it yourself'
            : ''}
      </span>
      {state === 'failed' && (
        <p className="field-error">Copying failed: select the text and copy it yourself.</p>
      )}
    </>
  );
}

/** The secret of a new key or token, shown once. */
export function SecretBox({ secret, label }: { secret: string; label: string }) {
  const id = useId();
  return (
    <div className="secret">
      <label htmlFor={id} className="visually-hidden">
        {label}
      </label>
      {/* A textarea, not an input: on a phone the whole secret wraps into view instead of being
          cut off in a one-line field. */}
      <textarea
        id={id}
        className="secret-value"
        readOnly
        rows={1}
        value={secret}
        spellCheck={false}
        autoCapitalize="off"
        autoCorrect="off"
        onFocus={(event) => event.currentTarget.select()}
        data-testid="secret"
      />
      <CopyButton text={secret} autoFocus />
    </div>
  );
}

/** A dialog that shows a new secret once, with a warning that it cannot be shown again. */
export function ShowOnceDialog({
  title,
  secret,
  what,
  kept = 'Keyward keeps only a hash of it: if you lose it, create a new one.',
  onClose,
  children,
}: {
  title: string;
  secret: string;
  what: string;
  /** How Keyward keeps the secret, and what to do if it is lost. */
  kept?: string;
  onClose: () => void;
  children?: ReactNode;
}) {
  return (
    <Dialog title={title} onClose={onClose} wide>
      <div className="dialog-body">
        <Alert kind="warning" title="You will not see it again">
          Copy this {what} now and store it somewhere safe, such as a secrets manager. {kept}
        </Alert>
        <SecretBox secret={secret} label={`Your new ${what}`} />
        {children}
      </div>
      <div className="dialog-footer">
        <Button variant="secondary" onClick={onClose}>
          Done
        </Button>
      </div>
    </Dialog>
  );
}

/** Asks before something that cannot be undone, naming what it is done to. */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  danger = true,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
  danger?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
    } catch (caught) {
      setError((caught as Error).message);
      setBusy(false);
    }
  };
  return (
    <Dialog title={title} onClose={onClose}>
      <div className="dialog-body">
        {error && <Alert>{error}</Alert>}
        {children}
      </div>
      <div className="dialog-footer">
        <Button onClick={onClose} data-autofocus>
          Cancel
        </Button>
        <Button variant={danger ? 'danger' : 'primary'} onClick={confirm} busy={busy}>
          {confirmLabel}
        </Button>
      </div>
    </Dialog>
  );
}

interface Toast {
  id: number;
  text: string;
  kind: 'success' | 'error';
}

const ToastContext = createContext<(text: string, kind?: Toast['kind']) => void>(() => {});

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const counter = useRef(0);
  const show = useCallback((text: string, kind: Toast['kind'] = 'success') => {
    counter.current += 1;
    const id = counter.current;
    setToasts((list) => [...list, { id, text, kind }]);
    window.setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), 5000);
  }, []);
  return (
    <ToastContext.Provider value={show}>
      {children}
      <div className="toasts" aria-live="polite">
        {toasts.map((toast) => (
          <div key={toast.id} className={`toast toast-${toast.kind}`}>
            {toast.text}
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast() {
  return useContext(ToastContext);
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

export function EmptyState({
  title,
  children,
  action,
}: {
  title: string;
  children: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className="empty">
      <div className="empty-icon" aria-hidden="true">
        <svg viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
          <circle cx="18" cy="24" r="8" fill="none" stroke="currentColor" strokeWidth="3" />
          <path
            d="M26 24h16m-5 0v6m-5-6v5"
            stroke="currentColor"
            strokeWidth="3"
            strokeLinecap="round"
          />
        </svg>
      </div>
      <h2>{title}</h2>
      <div className="empty-text">{children}</div>
      {action}
    </div>
  );
}

/** The page title: focused after navigation so screen readers announce the new page. */
/** A table's header row: one header per column, then a visually hidden "Actions" one if asked. */
export function TableHead({ columns, actions = false }: { columns: string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th scope="col" key={column}>
            {column}
          </th>
        ))}
        {actions && (
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

export function PageHeader({
  title,
  description,
  actions,
  children,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  children?: ReactNode;
}) {
  return (
    <header className="page-header">
      <div className="page-heading">
        <div>
          {children}
          <h1 tabIndex={-1} data-page-title>
            {title}
          </h1>
          {description && <p className="page-description">{description}</p>}
        </div>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
    </header>
  );
}
