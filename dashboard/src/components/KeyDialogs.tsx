// The dialogs behind a key's actions (Edit · Rotate · Revoke · Delete) and the show-once dialog
// of a new secret, shared by the keys table and the key page.
import { useState } from 'react';
import { type ApiError, type ApiKey, api, type CreatedKey } from '../api.ts';
import { formatDateTime } from '../format.ts';
import { useSession } from '../session.ts';
import { KeyFormDialog } from './KeyForm.tsx';
import { Alert, Button, ConfirmDialog, Dialog, Field, ShowOnceDialog, useToast } from './ui.tsx';

export type KeyAction = 'edit' | 'rotate' | 'revoke' | 'delete';

export type OpenDialog =
  | { kind: 'create' }
  | { kind: KeyAction; key: ApiKey }
  | { kind: 'secret'; created: CreatedKey; rotatedFrom?: ApiKey | undefined };

const GRACE_PERIODS = [
  { value: '0', label: 'Stop the old key now' },
  { value: '1h', label: '1 hour' },
  { value: '24h', label: '24 hours' },
  { value: '7d', label: '7 days' },
];

function RotateDialog({
  apiKey,
  onClose,
  onRotated,
}: {
  apiKey: ApiKey;
  onClose: () => void;
  onRotated: (created: CreatedKey) => void;
}) {
  const [grace, setGrace] = useState('24h');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const rotate = async () => {
    setBusy(true);
    setFailure(null);
    try {
      onRotated(await api.rotateKey(apiKey.id, grace));
    } catch (error) {
      setFailure((error as ApiError).message);
      setBusy(false);
    }
  };
  const hasCredits = apiKey.credits.remaining !== null;
  return (
    <Dialog title={`Rotate “${apiKey.name}”`} onClose={onClose}>
      <div className="dialog-body">
        {failure && <Alert>{failure}</Alert>}
        <p>
          Rotating creates a new secret with the same name, permissions, limits and metadata. Deploy
          the new key, then let the old one (<code>{apiKey.masked}</code>) run out.
        </p>
        <Field
          label="Grace period for the old key"
          hint="The old key keeps working this long (never past its own expiry), then stops."
        >
          <select value={grace} onChange={(event) => setGrace(event.target.value)}>
            {GRACE_PERIODS.map((period) => (
              <option key={period.value} value={period.value}>
                {period.label}
              </option>
            ))}
          </select>
        </Field>
        {hasCredits && (
          <p className="hint">
            The remaining credits move to the new key; during the grace period the old key can only
            make requests that need no credits.
          </p>
        )}
        {(apiKey.limits.daily || apiKey.limits.monthly || apiKey.limits.rate) && (
          <p className="hint">
            Rate limits and daily and monthly quotas count per key: the new key gets its own, from
            zero, and what the old key used stays counted on the old key.
          </p>
        )}
      </div>
      <div className="dialog-footer">
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="primary" onClick={rotate} busy={busy}>
          Rotate key
        </Button>
      </div>
    </Dialog>
  );
}

/**
 * Renders whichever dialog is open. `onChanged` runs after every change so the caller can reload;
 * `onDeleted` after a delete (the key page navigates away).
 */
export function KeyDialogs({
  open,
  setOpen,
  onChanged,
  onDeleted,
}: {
  open: OpenDialog | null;
  setOpen: (dialog: OpenDialog | null) => void;
  onChanged: () => void;
  onDeleted?: (key: ApiKey) => void;
}) {
  const { me, refresh } = useSession();
  const toast = useToast();
  if (open === null) return null;
  const close = () => setOpen(null);
  const changed = () => {
    onChanged();
    refresh().catch(() => {});
  };

  switch (open.kind) {
    case 'create':
      return (
        <KeyFormDialog
          mode="create"
          myIp={me.ip}
          onClose={close}
          onCreated={(created) => {
            setOpen({ kind: 'secret', created });
            changed();
          }}
        />
      );
    case 'edit':
      return (
        <KeyFormDialog
          mode="edit"
          apiKey={open.key}
          myIp={me.ip}
          onClose={close}
          onSaved={(saved) => {
            close();
            toast(
              saved.enabled === open.key.enabled
                ? `Saved “${saved.name}”.`
                : saved.enabled
                  ? `Saved and enabled “${saved.name}”: it works again.`
                  : `Saved and disabled “${saved.name}”: it is refused until you enable it.`,
            );
            changed();
          }}
        />
      );
    case 'rotate':
      return (
        <RotateDialog
          apiKey={open.key}
          onClose={close}
          onRotated={(created) => {
            setOpen({ kind: 'secret', created, rotatedFrom: open.key });
            changed();
          }}
        />
      );
    case 'revoke':
      return (
        <ConfirmDialog
          title={`Revoke “${open.key.name}”?`}
          confirmLabel="Revoke key"
          onClose={close}
          onConfirm={async () => {
            await api.revokeKey(open.key.id);
            close();
            toast(`Revoked “${open.key.name}”.`);
            changed();
          }}
        >
          <p>
            Requests made with <code>{open.key.masked}</code> will be refused at once. This cannot
            be undone: the key stays in the list, marked Revoked, for your records.
          </p>
        </ConfirmDialog>
      );
    case 'delete':
      return (
        <ConfirmDialog
          title={`Delete “${open.key.name}”?`}
          confirmLabel="Delete key"
          onClose={close}
          onConfirm={async () => {
            await api.deleteKey(open.key.id);
            close();
            toast(`Deleted “${open.key.name}”.`);
            onDeleted?.(open.key);
            changed();
          }}
        >
          <p>
            The key <code>{open.key.masked}</code> is removed for good and stops working at once.
            Its usage history and audit entries are kept.
          </p>
        </ConfirmDialog>
      );
    case 'secret':
      return (
        <ShowOnceDialog
          title={open.rotatedFrom ? 'Your new key' : 'Save your API key'}
          secret={open.created.key}
          what="key"
          onClose={close}
        >
          <dl className="secret-facts">
            <div>
              <dt>Name</dt>
              <dd>{open.created.name}</dd>
            </div>
            <div>
              <dt>Expires</dt>
              <dd>{open.created.expires_at ? formatDateTime(open.created.expires_at) : 'Never'}</dd>
            </div>
          </dl>
          {open.rotatedFrom && (
            <p className="hint">
              The old key <code>{open.rotatedFrom.masked}</code> keeps working until the grace
              period ends. Watch its “Last used” to see traffic move to the new key.
            </p>
          )}
        </ShowOnceDialog>
      );
  }
}

/** The row of action buttons for one key; only the actions its status allows. */
/** Disables or enables a key at once (no dialog: both are undone with one more click). */
export function useToggleKey(onChanged: () => void) {
  const toast = useToast();
  const [busy, setBusy] = useState<string | null>(null);
  const toggle = async (key: ApiKey) => {
    setBusy(key.id);
    try {
      const saved = await api.updateKey(key.id, { enabled: !key.enabled });
      toast(
        saved.enabled
          ? `Enabled “${saved.name}”: it works again.`
          : `Disabled “${saved.name}”: it is refused until you enable it.`,
      );
      onChanged();
    } catch (error) {
      toast((error as ApiError).message, 'error');
    } finally {
      setBusy(null);
    }
  };
  return { toggle, busy };
}

export function KeyActionButtons({
  apiKey,
  onAction,
  onToggle,
  toggling = false,
  size = 'sm',
}: {
  apiKey: ApiKey;
  onAction: (action: KeyAction, key: ApiKey) => void;
  onToggle?: (key: ApiKey) => void;
  toggling?: boolean;
  size?: 'sm' | 'md';
}) {
  const revoked = apiKey.status === 'revoked';
  const canRotate =
    (apiKey.status === 'active' || apiKey.status === 'disabled') && apiKey.rotated_to === null;
  const canToggle =
    onToggle !== undefined && (apiKey.status === 'active' || apiKey.status === 'disabled');
  // The masked key tells apart two keys of one name (a rotated key and its replacement).
  const label = (action: string) => `${action} ${apiKey.name} (${apiKey.masked})`;
  return (
    <div className="actions">
      {!revoked && (
        <Button
          variant="ghost"
          size={size}
          onClick={() => onAction('edit', apiKey)}
          aria-label={label('Edit')}
        >
          Edit
        </Button>
      )}
      {canToggle && (
        <Button
          variant="ghost"
          size={size}
          busy={toggling}
          onClick={() => onToggle?.(apiKey)}
          aria-label={label(apiKey.enabled ? 'Disable' : 'Enable')}
        >
          {apiKey.enabled ? 'Disable' : 'Enable'}
        </Button>
      )}
      {canRotate && (
        <Button
          variant="ghost"
          size={size}
          onClick={() => onAction('rotate', apiKey)}
          aria-label={label('Rotate')}
        >
          Rotate
        </Button>
      )}
      {!revoked && (
        <Button
          variant="ghost"
          size={size}
          className="danger-text"
          onClick={() => onAction('revoke', apiKey)}
          aria-label={label('Revoke')}
        >
          Revoke
        </Button>
      )}
      <Button
        variant="ghost"
        size={size}
        className="danger-text"
        onClick={() => onAction('delete', apiKey)}
        aria-label={label('Delete')}
      >
        Delete
      </Button>
    </div>
  );
}
