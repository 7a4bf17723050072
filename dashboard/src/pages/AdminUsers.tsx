import { useCallback, useEffect, useState } from 'react';
import { type ApiError, api, type Plan, type User } from '../api.ts';
import {
  Alert,
  Button,
  ConfirmDialog,
  EmptyState,
  PageHeader,
  Spinner,
  TableHead,
  useToast,
} from '../components/ui.tsx';
import { formatDate } from '../format.ts';
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
            <TableHead columns={['Email', 'Role', 'Plan', 'Status', 'Joined']} actions />
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
                  <td data-label="Status">
                    <span className={`badge ${user.disabled ? 'badge-revoked' : 'badge-active'}`}>
                      {user.disabled ? 'Disabled' : 'Active'}
                    </span>
                  </td>
                  <td data-label="Joined">{formatDate(user.created_at)}</td>
                  <td className="cell-actions">
                    <div className="actions">
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
