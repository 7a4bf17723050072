import { useCallback, useEffect, useState } from 'react';
import { type ApiError, type AuditEntry, api } from '../api.ts';
import {
  Alert,
  Button,
  EmptyState,
  PageHeader,
  RelativeTime,
  Spinner,
  TableHead,
  useNow,
} from '../components/ui.tsx';
import { formatDateTime } from '../format.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.ts';

const ACTIONS: Record<string, string> = {
  'key.created': 'Created key',
  'key.updated': 'Changed key',
  'key.revoked': 'Revoked key',
  'key.rotated': 'Rotated key',
  'key.deleted': 'Deleted key',
  'key.leaked': 'Key reported as leaked',
  'token.created': 'Created token',
  'token.deleted': 'Revoked token',
  'account.created': 'Created account',
  'account.updated': 'Changed account',
  'account.password_changed': 'Changed password',
  'account.password_reset_requested': 'Password-reset link created',
  'account.password_reset': 'Reset password with a link',
  'invitation.created': 'Created invitation',
  'invitation.revoked': 'Revoked invitation',
  'invitation.accepted': 'Accepted invitation',
  'auth.login': 'Signed in',
  'auth.login_failed': 'Failed sign-in',
  'auth.logout': 'Signed out',
};

export function actionLabel(action: string): string {
  return ACTIONS[action] ?? action;
}

function tone(action: string): string {
  if (action === 'auth.login_failed' || action === 'key.leaked') return 'bad';
  if (action.endsWith('.revoked') || action.endsWith('.deleted')) return 'warn';
  if (action.endsWith('.created')) return 'good';
  return 'neutral';
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** A few readable details (grace period, new expiry …) in local time; never the whole JSON blob. */
function detailText(entry: AuditEntry): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(entry.details)) {
    if (name === 'name' || name.endsWith('_id') || value === null || value === undefined) continue;
    const label = name.replaceAll('_', ' ');
    if (Array.isArray(value)) {
      if (value.every((v) => typeof v !== 'object')) parts.push(`${label}: ${value.join(', ')}`);
    } else if (typeof value === 'string' && ISO_TIME.test(value))
      parts.push(`${label}: ${formatDateTime(value)}`);
    else if (typeof value !== 'object') parts.push(`${label}: ${String(value)}`);
  }
  return parts.slice(0, 4).join(' · ');
}

/** A long id, shortened for the table; the whole id is in the tooltip. */
function ShortId({ id }: { id: string | null }) {
  if (id === null) return <span className="muted">—</span>;
  const short = id.length > 14 ? `${id.slice(0, 12)}…` : id;
  return <code title={id}>{short}</code>;
}

export function AuditLog() {
  const { me } = useSession();
  const now = useNow();
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [cursor, setCursor] = useState<number | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async (from?: number) => {
    setBusy(true);
    try {
      const page = await api.auditLog(from);
      setEntries((list) => (from === undefined ? page.data : [...(list ?? []), ...page.data]));
      setCursor(page.next_cursor);
      setFailure(null);
    } catch (error) {
      setFailure((error as ApiError).message);
    } finally {
      setBusy(false);
    }
  }, []);

  useEffect(() => {
    document.title = 'Audit log · Keyward';
    load();
  }, [load]);

  const actor = (entry: AuditEntry) => {
    if (entry.actor_type === 'user') {
      if (entry.actor_id === me.user.id) return 'You';
      return entry.actor_name ?? <ShortId id={entry.actor_id} />;
    }
    if (entry.actor_type === 'token')
      return entry.actor_name ? (
        <>Token “{entry.actor_name}”</>
      ) : (
        <>
          Token <ShortId id={entry.actor_id} />
        </>
      );
    if (entry.actor_type === 'anonymous') return 'Anonymous';
    if (entry.actor_type === 'cli') return 'Command line';
    if (entry.actor_type === 'administrator') return 'An administrator';
    if (entry.actor_type === 'deleted_account')
      return (
        <>
          Deleted account <ShortId id={entry.actor_id} />
        </>
      );
    return entry.actor_type === 'system' ? 'Keyward' : entry.actor_type;
  };

  const target = (entry: AuditEntry) => {
    const id = entry.target_id;
    if (id === null) return <span className="muted">—</span>;
    if (id === me.user.id) return 'Your account';
    const kind = id.startsWith('key_') ? 'key' : id.startsWith('tok_') ? 'token' : null;
    const name = entry.target_name;
    if (kind === 'key' && entry.target_exists) return <Link to={`/keys/${id}`}>{name ?? id}</Link>;
    if (kind !== null && !entry.target_exists)
      return (
        <span>
          <span className="muted">Deleted {kind}</span> {name ? `“${name}”` : <ShortId id={id} />}
        </span>
      );
    return name ?? <ShortId id={id} />;
  };

  return (
    <>
      <PageHeader
        title="Audit log"
        description={
          me.user.role === 'admin'
            ? 'Everything that happened on this Keyward server: who did what, from where, and when.'
            : 'Everything done to your account, keys and tokens: who did it, from where, and when.'
        }
        actions={
          <Button onClick={() => load()} busy={busy && entries !== null}>
            Refresh
          </Button>
        }
      />
      {failure && <Alert>{failure}</Alert>}
      {entries === null && !failure && <Spinner label="Loading the audit log" />}
      {entries !== null && entries.length === 0 && (
        <EmptyState title="Nothing here yet">
          <p>Create a key or a token, and the change is recorded here.</p>
        </EmptyState>
      )}
      {entries !== null && entries.length > 0 && (
        <div className="card table-card">
          <table className="table audit-table">
            <caption className="visually-hidden">Audit log, newest first</caption>
            <TableHead columns={['When', 'Action', 'Target', 'By', 'IP address', 'Details']} />
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td data-label="When">
                    <time dateTime={entry.created_at}>{formatDateTime(entry.created_at)}</time>
                    <span className="row-note">
                      <RelativeTime iso={entry.created_at} now={now} />
                    </span>
                  </td>
                  <td data-label="Action">
                    <span className={`action action-${tone(entry.action)}`}>
                      {actionLabel(entry.action)}
                    </span>
                  </td>
                  <td data-label="Target">{target(entry)}</td>
                  <td data-label="By">{actor(entry)}</td>
                  <td data-label="IP address">{entry.ip ?? <span className="muted">—</span>}</td>
                  <td data-label="Details" className="cell-details">
                    {detailText(entry)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {cursor !== null && (
            <div className="card-footer">
              <Button size="sm" onClick={() => load(cursor)} busy={busy}>
                Load older entries
              </Button>
            </div>
          )}
        </div>
      )}
    </>
  );
}
