import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { type ApiError, api, type CreatedToken, type Scope, type Token } from '../api.ts';
import {
  Alert,
  Button,
  ConfirmDialog,
  Dialog,
  EmptyState,
  Field,
  PageHeader,
  RelativeTime,
  ShowOnceDialog,
  Spinner,
  TableHead,
  useNow,
  useToast,
} from '../components/ui.tsx';
import { formatDate, formatDateTime } from '../format.ts';

interface ScopeInfo {
  scope: Scope;
  label: string;
  description: string;
}

export const MANAGEMENT_SCOPES: ScopeInfo[] = [
  {
    scope: 'keys:read',
    label: 'Read keys',
    description: 'List keys, read their settings and the audit log.',
  },
  {
    scope: 'keys:write',
    label: 'Manage keys',
    description: 'Create, change, rotate, revoke and delete keys.',
  },
  {
    scope: 'usage:read',
    label: 'Read usage',
    description: 'Usage history and request logs of keys.',
  },
];

export const SERVICE_SCOPES: ScopeInfo[] = [
  {
    scope: 'keys:verify',
    label: 'Verify keys',
    description: 'POST /v1/verify and /v1/usage: what your API servers need.',
  },
  {
    scope: 'keys:manage',
    label: 'Manage any owner’s keys',
    description: 'Create and manage keys for any account.',
  },
  {
    scope: 'users:manage',
    label: 'Manage users',
    description: 'List users, change plans, disable accounts.',
  },
  {
    scope: 'leaks:report',
    label: 'Report leaked keys',
    description: 'POST /v1/leaks: a secret scanner revokes the live keys it reports.',
  },
];

/** The same presets as API keys (the API reads both alike: 6m is six months). */
const LIFETIMES = [
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
  { value: '6m', label: '6 months' },
  { value: '1y', label: '1 year' },
  { value: '', label: 'No expiration' },
];

function CreateTokenDialog({
  kind,
  onClose,
  onCreated,
}: {
  kind: 'management' | 'service';
  onClose: () => void;
  onCreated: (token: CreatedToken) => void;
}) {
  const scopes = kind === 'service' ? [...SERVICE_SCOPES, ...MANAGEMENT_SCOPES] : MANAGEMENT_SCOPES;
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<Set<Scope>>(
    new Set<Scope>(kind === 'service' ? ['keys:verify'] : ['keys:read']),
  );
  const [lifetime, setLifetime] = useState('90d');
  const [errors, setErrors] = useState<{ name?: string; scopes?: string }>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const toggle = (scope: Scope) => {
    const next = new Set(chosen);
    if (next.has(scope)) next.delete(scope);
    else next.add(scope);
    setChosen(next);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const found: typeof errors = {};
    const trimmed = name.trim();
    if (trimmed === '') found.name = 'Give the token a name, such as "Deploy script".';
    else if ([...trimmed].length > 100) found.name = 'Use at most 100 characters.';
    if (chosen.size === 0) found.scopes = 'Choose at least one scope.';
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    setFailure(null);
    try {
      onCreated(
        await api.createToken({
          name: trimmed,
          scopes: [...chosen],
          ...(lifetime !== '' && { expires_in: lifetime }),
        }),
      );
    } catch (error) {
      setFailure((error as ApiError).message);
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={kind === 'service' ? 'Create service token' : 'Create management token'}
      onClose={onClose}
    >
      <form onSubmit={submit} noValidate>
        <div className="dialog-body">
          {failure && <Alert>{failure}</Alert>}
          <Field label="Name" error={errors.name} hint="What uses this token.">
            <input
              type="text"
              value={name}
              onChange={(event) => setName(event.target.value)}
              placeholder={kind === 'service' ? 'e.g. API servers' : 'e.g. Deploy script'}
              autoComplete="off"
              data-autofocus
            />
          </Field>
          <fieldset className="field" aria-describedby={errors.scopes ? 'scope-error' : undefined}>
            <legend>Scopes</legend>
            <div className="choices">
              {scopes.map((info) => (
                <label className="choice" key={info.scope}>
                  <input
                    type="checkbox"
                    checked={chosen.has(info.scope)}
                    onChange={() => toggle(info.scope)}
                  />
                  <span>
                    <span className="choice-label">
                      {info.label} <code>{info.scope}</code>
                    </span>
                    <span className="choice-description">{info.description}</span>
                  </span>
                </label>
              ))}
            </div>
            {errors.scopes && (
              <p className="field-error" id="scope-error">
                {errors.scopes}
              </p>
            )}
          </fieldset>
          <Field label="Expiration">
            <select value={lifetime} onChange={(event) => setLifetime(event.target.value)}>
              {LIFETIMES.map((l) => (
                <option key={l.value} value={l.value}>
                  {l.label}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <div className="dialog-footer">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Create token
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

type TokenDialog =
  | { kind: 'create' }
  | { kind: 'secret'; token: CreatedToken }
  | { kind: 'delete'; token: Token };

/** The list of the signed-in user's tokens of one kind, with create and revoke. */
export function TokenList({ kind }: { kind: 'management' | 'service' }) {
  const now = useNow();
  const toast = useToast();
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [dialog, setDialog] = useState<TokenDialog | null>(null);

  const load = useCallback(async () => {
    try {
      const list = await api.listTokens();
      setTokens(list.data.filter((t) => t.kind === kind));
    } catch (error) {
      setFailure((error as ApiError).message);
    }
  }, [kind]);

  useEffect(() => {
    load();
  }, [load]);

  const service = kind === 'service';
  const create = (
    <Button variant="primary" onClick={() => setDialog({ kind: 'create' })}>
      {service ? 'Create service token' : 'Create token'}
    </Button>
  );

  return (
    <>
      <PageHeader
        title={service ? 'Service tokens' : 'Management tokens'}
        description={
          service
            ? 'Tokens (kws_…) for your API servers: verify keys, report usage, manage any account’s keys.'
            : 'Tokens (kwm_…) let your scripts manage your keys through the API. They cannot create other tokens.'
        }
        actions={create}
      />
      {failure && <Alert>{failure}</Alert>}
      {tokens === null && !failure && <Spinner label="Loading tokens" />}
      {tokens !== null && tokens.length === 0 && (
        <EmptyState
          title={service ? 'No service tokens yet' : 'No management tokens yet'}
          action={create}
        >
          <p>
            {service
              ? 'Create a token with the keys:verify scope and give it to your API servers so they can check keys with POST /v1/verify.'
              : 'Create a token to manage keys from scripts or CI, and send it as Authorization: Bearer kwm_….'}
          </p>
        </EmptyState>
      )}
      {tokens !== null && tokens.length > 0 && (
        <div className="card table-card">
          <table className="table">
            <caption className="visually-hidden">
              {service ? 'Service tokens' : 'Management tokens'}
            </caption>
            <TableHead
              columns={['Name', 'Token', 'Scopes', 'Created', 'Last used', 'Expires']}
              actions
            />
            <tbody>
              {tokens.map((token) => {
                const expired = token.expires_at !== null && Date.parse(token.expires_at) <= now;
                return (
                  <tr key={token.id}>
                    <td data-label="Name" className="cell-name">
                      {token.name}
                    </td>
                    <td data-label="Token">
                      <code className="masked">{token.masked}</code>
                    </td>
                    <td data-label="Scopes">
                      {token.scopes.map((s) => (
                        <code key={s} className="tag">
                          {s}
                        </code>
                      ))}
                    </td>
                    <td data-label="Created">
                      <time dateTime={token.created_at} title={formatDateTime(token.created_at)}>
                        {formatDate(token.created_at)}
                      </time>
                    </td>
                    <td data-label="Last used">
                      <RelativeTime iso={token.last_used_at} now={now} />
                    </td>
                    <td data-label="Expires">
                      {token.expires_at === null ? (
                        <span className="muted">Never</span>
                      ) : expired ? (
                        <span className="badge badge-expired">Expired</span>
                      ) : (
                        formatDate(token.expires_at)
                      )}
                    </td>
                    <td className="cell-actions">
                      <div className="actions">
                        <Button
                          variant="ghost"
                          size="sm"
                          className="danger-text"
                          aria-label={`Revoke ${token.name}`}
                          onClick={() => setDialog({ kind: 'delete', token })}
                        >
                          Revoke
                        </Button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {dialog?.kind === 'create' && (
        <CreateTokenDialog
          kind={kind}
          onClose={() => setDialog(null)}
          onCreated={(token) => {
            setDialog({ kind: 'secret', token });
            load();
          }}
        />
      )}
      {dialog?.kind === 'secret' && (
        <ShowOnceDialog
          title="Save your token"
          secret={dialog.token.token}
          what="token"
          onClose={() => setDialog(null)}
        />
      )}
      {dialog?.kind === 'delete' && (
        <ConfirmDialog
          title={`Revoke “${dialog.token.name}”?`}
          confirmLabel="Revoke token"
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            await api.deleteToken(dialog.token.id);
            setDialog(null);
            toast(`Revoked “${dialog.token.name}”.`);
            load();
          }}
        >
          <p>
            Anything using <code>{dialog.token.masked}</code> stops working at once. This cannot be
            undone.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

export function TokensPage() {
  useEffect(() => {
    document.title = 'Management tokens · Keyward';
  }, []);
  return <TokenList kind="management" />;
}
