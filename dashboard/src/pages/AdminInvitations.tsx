import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { type ApiError, api, type CreatedInvitation, type Invitation, type Plan } from '../api.ts';
import {
  Alert,
  Button,
  ConfirmDialog,
  Dialog,
  EmptyState,
  Field,
  PageHeader,
  ShowOnceDialog,
  Spinner,
  TableHead,
  useToast,
} from '../components/ui.tsx';
import { formatDate, formatDateTime } from '../format.ts';
import { useSession } from '../session.ts';
import { AdminOnly } from './AdminUsers.tsx';
import { EMAIL } from './Auth.tsx';

const LIFETIMES = [
  { value: '1d', label: '1 day' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
];

const STATUS: Record<Invitation['status'], { label: string; badge: string }> = {
  pending: { label: 'Pending', badge: 'badge-active' },
  accepted: { label: 'Accepted', badge: 'badge-unused' },
  revoked: { label: 'Revoked', badge: 'badge-revoked' },
  expired: { label: 'Expired', badge: 'badge-expired' },
};

function CreateInvitationDialog({
  plans,
  defaultPlan,
  onClose,
  onCreated,
}: {
  plans: Plan[];
  defaultPlan: string;
  onClose: () => void;
  onCreated: (invitation: CreatedInvitation) => void;
}) {
  const [email, setEmail] = useState('');
  const [admin, setAdmin] = useState(false);
  const [plan, setPlan] = useState(defaultPlan);
  const [lifetime, setLifetime] = useState('7d');
  const [error, setError] = useState<string | undefined>();
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = email.trim();
    if (trimmed !== '' && !EMAIL.test(trimmed)) {
      setError('Enter an email address, or leave it empty to let the invitee choose.');
      return;
    }
    setError(undefined);
    setBusy(true);
    setFailure(null);
    try {
      onCreated(
        await api.createInvitation({
          ...(trimmed !== '' && { email: trimmed }),
          role: admin ? 'admin' : 'user',
          ...(plan !== '' && { plan }),
          expires_in: lifetime,
        }),
      );
    } catch (caught) {
      setFailure((caught as ApiError).message);
      setBusy(false);
    }
  };

  return (
    <Dialog title="Invite someone" onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <div className="dialog-body">
          {failure && <Alert>{failure}</Alert>}
          <Field
            label="Email"
            optional
            error={error}
            hint="The account must use this address. The link is mailed to it when this server sends mail."
          >
            <input
              type="email"
              value={email}
              onChange={(event) => setEmail(event.target.value)}
              autoComplete="off"
              data-autofocus
            />
          </Field>
          <Field label="Plan">
            <select value={plan} onChange={(event) => setPlan(event.target.value)}>
              {plans.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Link works for">
            <select value={lifetime} onChange={(event) => setLifetime(event.target.value)}>
              {LIFETIMES.map((l) => (
                <option key={l.value} value={l.value}>
                  {l.label}
                </option>
              ))}
            </select>
          </Field>
          <label className="choice">
            <input type="checkbox" checked={admin} onChange={() => setAdmin(!admin)} />
            <span>
              <span className="choice-label">Administrator</span>
              <span className="choice-description">
                Can see every account, change plans and invite others.
              </span>
            </span>
          </label>
        </div>
        <div className="dialog-footer">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Create invitation
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

type InvitationDialog =
  | { kind: 'create' }
  | { kind: 'link'; invitation: CreatedInvitation }
  | { kind: 'revoke'; invitation: Invitation };

export function AdminInvitations() {
  const { me } = useSession();
  const toast = useToast();
  const admin = me.user.role === 'admin';
  const [invitations, setInvitations] = useState<Invitation[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [plans, setPlans] = useState<{ data: Plan[]; default_plan: string } | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [dialog, setDialog] = useState<InvitationDialog | null>(null);

  const load = useCallback(async (from?: string) => {
    try {
      const page = await api.listInvitations(from);
      setInvitations((list) => (from === undefined ? page.data : [...(list ?? []), ...page.data]));
      setCursor(page.next_cursor);
    } catch (caught) {
      setFailure((caught as ApiError).message);
    }
  }, []);

  useEffect(() => {
    document.title = 'Invitations · Keyward';
    if (!admin) return;
    load();
    api
      .plans()
      .then(setPlans)
      .catch((caught: ApiError) => setFailure(caught.message));
  }, [admin, load]);

  if (!admin) return <AdminOnly />;

  const create = (
    <Button
      variant="primary"
      onClick={() => setDialog({ kind: 'create' })}
      disabled={plans === null}
    >
      Invite someone
    </Button>
  );

  return (
    <>
      <PageHeader
        title="Invitations"
        description="One-time links that let someone create an account, with the role and plan you choose."
        actions={create}
      />
      {failure && <Alert>{failure}</Alert>}
      {invitations === null && !failure && <Spinner label="Loading invitations" />}
      {invitations !== null && invitations.length === 0 && (
        <EmptyState title="No invitations yet" action={create}>
          <p>Invite someone to create an account on this Keyward server.</p>
        </EmptyState>
      )}
      {invitations !== null && invitations.length > 0 && (
        <div className="card table-card">
          <table className="table">
            <caption className="visually-hidden">Invitations</caption>
            <TableHead
              columns={['Email', 'Role', 'Plan', 'Status', 'Created', 'Expires']}
              actions
            />
            <tbody>
              {invitations.map((invitation) => (
                <tr key={invitation.id}>
                  <td data-label="Email" className="cell-name">
                    {invitation.email ?? <span className="muted">Any email</span>}
                  </td>
                  <td data-label="Role">{invitation.role === 'admin' ? 'Admin' : 'User'}</td>
                  <td data-label="Plan">{invitation.plan}</td>
                  <td data-label="Status">
                    <span className={`badge ${STATUS[invitation.status].badge}`}>
                      {STATUS[invitation.status].label}
                    </span>
                  </td>
                  <td data-label="Created">{formatDate(invitation.created_at)}</td>
                  <td data-label="Expires">
                    <time dateTime={invitation.expires_at}>
                      {formatDateTime(invitation.expires_at)}
                    </time>
                  </td>
                  <td className="cell-actions">
                    <div className="actions">
                      {invitation.status === 'pending' && (
                        <Button
                          variant="ghost"
                          size="sm"
                          className="danger-text"
                          aria-label={`Revoke the invitation for ${invitation.email ?? 'any email'}`}
                          onClick={() => setDialog({ kind: 'revoke', invitation })}
                        >
                          Revoke
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
      {dialog?.kind === 'create' && plans !== null && (
        <CreateInvitationDialog
          plans={plans.data}
          defaultPlan={plans.default_plan}
          onClose={() => setDialog(null)}
          onCreated={(invitation) => {
            setDialog({ kind: 'link', invitation });
            load();
          }}
        />
      )}
      {dialog?.kind === 'link' && (
        <ShowOnceDialog
          title="Send this invitation link"
          secret={dialog.invitation.url}
          what="invitation link"
          onClose={() => setDialog(null)}
        >
          <p className="muted">
            {dialog.invitation.mailed
              ? `It has also been mailed to ${dialog.invitation.email}.`
              : 'Send it to the person you invite. It works once.'}
          </p>
        </ShowOnceDialog>
      )}
      {dialog?.kind === 'revoke' && (
        <ConfirmDialog
          title="Revoke this invitation?"
          confirmLabel="Revoke invitation"
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            await api.revokeInvitation(dialog.invitation.id);
            setDialog(null);
            toast('The invitation is revoked.');
            load();
          }}
        >
          <p>
            The link for {dialog.invitation.email ?? 'any email'} stops working at once. This cannot
            be undone.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
