// Webhook endpoints: where Keyward sends its signed events (docs/EVENTS.md), each endpoint's
// deliveries with their attempts, retry, a test event, enable and disable.
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import {
  type ApiError,
  api,
  type CreatedWebhookEndpoint,
  type DeliveryStatus,
  type WebhookDelivery,
  type WebhookDeliveryDetail,
  type WebhookEndpoint,
} from '../api.ts';
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
import { formatDateTime, formatNumber, plural } from '../format.ts';
import { Link, navigate } from '../router.tsx';
import { useSession } from '../session.ts';

/** The events an endpoint can subscribe to, as docs/EVENTS.md describes them. */
export const EVENT_CHOICES: { type: string; description: string }[] = [
  { type: 'key.created', description: 'A key was created.' },
  { type: 'key.updated', description: 'A key’s name, limits or other settings changed.' },
  { type: 'key.revoked', description: 'A key was revoked.' },
  { type: 'key.rotated', description: 'A key was replaced by a new secret.' },
  { type: 'key.deleted', description: 'A key was deleted for good.' },
  { type: 'key.expiring', description: 'A key expires in 7 days, or in 1 day.' },
  { type: 'key.expired', description: 'A key reached its expiry.' },
  { type: 'key.idle', description: 'A key has not been used for a long time.' },
  { type: 'key.leaked', description: 'A key was found in public and revoked.' },
  { type: 'usage.threshold', description: 'A key used 80 % or 100 % of a quota or its credits.' },
  { type: 'credits.refilled', description: 'A key’s credits were refilled.' },
];

const SECRET_KEPT =
  'Keyward keeps it encrypted to sign each event; if you lose it, roll the secret for a new one.';

function EndpointStatus({ endpoint }: { endpoint: WebhookEndpoint }) {
  if (!endpoint.enabled)
    return (
      <span className="badge badge-disabled" title={endpoint.disabled_reason ?? undefined}>
        Disabled
      </span>
    );
  if (endpoint.failing_since !== null)
    return (
      <span className="badge badge-expired" title={`Failing since ${endpoint.failing_since}`}>
        Failing
      </span>
    );
  return <span className="badge badge-active">Enabled</span>;
}

function eventsText(events: string[]): string {
  if (events.includes('*')) return 'All events';
  return events.length <= 2
    ? events.join(', ')
    : `${events.slice(0, 2).join(', ')} +${events.length - 2}`;
}

function EndpointDialog({
  endpoint,
  onClose,
  onSaved,
}: {
  endpoint?: WebhookEndpoint;
  onClose: () => void;
  onSaved: (saved: WebhookEndpoint | CreatedWebhookEndpoint) => void;
}) {
  const { me } = useSession();
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [all, setAll] = useState(endpoint === undefined || endpoint.events.includes('*'));
  const [events, setEvents] = useState<string[]>(
    endpoint && !endpoint.events.includes('*') ? endpoint.events : [],
  );
  const [scope, setScope] = useState<'account' | 'deployment'>(endpoint?.scope ?? 'account');
  const [errors, setErrors] = useState<{ url?: string; events?: string }>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    const found: typeof errors = {};
    let parsed: URL | null = null;
    try {
      parsed = new URL(url.trim());
    } catch {
      parsed = null;
    }
    if (parsed === null || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:'))
      found.url = 'Enter the full http:// or https:// address of your endpoint.';
    if (!all && events.length === 0) found.events = 'Choose at least one event, or all events.';
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const body = {
        url: url.trim(),
        events: all ? ['*'] : events,
        description: description.trim(),
      };
      const saved =
        endpoint === undefined
          ? await api.createWebhook({ ...body, ...(scope === 'deployment' && { scope }) })
          : await api.updateWebhook(endpoint.id, body);
      onSaved(saved);
    } catch (error) {
      const apiError = error as ApiError;
      setBusy(false);
      // The server refuses private and loopback addresses (SSRF) with a message about the URL.
      if (
        apiError.status === 400 &&
        (apiError.param?.startsWith('url') || /url|address/i.test(apiError.serverMessage))
      )
        setErrors({ url: apiError.message });
      else setFailure(apiError.message);
    }
  };

  const toggle = (type: string, on: boolean) =>
    setEvents((list) => (on ? [...list, type] : list.filter((t) => t !== type)));

  return (
    <Dialog
      title={endpoint === undefined ? 'Add a webhook endpoint' : 'Edit webhook endpoint'}
      onClose={onClose}
      wide
    >
      <form onSubmit={submit} noValidate>
        <div className="dialog-body">
          {failure && <Alert>{failure}</Alert>}
          <Field
            label="Endpoint URL"
            error={errors.url}
            hint="Keyward POSTs each event here, signed (Standard Webhooks). Private and loopback addresses are refused."
          >
            <input
              type="url"
              value={url}
              onChange={(e) => setUrl(e.target.value)}
              placeholder="https://api.example.com/keyward-events"
              autoComplete="off"
              spellCheck={false}
              data-autofocus
            />
          </Field>
          <Field label="Description" optional>
            <input
              type="text"
              value={description}
              maxLength={500}
              onChange={(e) => setDescription(e.target.value)}
              placeholder="e.g. Billing service"
            />
          </Field>
          {endpoint === undefined && me.user.role === 'admin' && (
            <fieldset className="field">
              <legend>Which keys</legend>
              <div className="choices">
                {(
                  [
                    ['account', 'My keys', 'Events of the keys of this account.'],
                    ['deployment', 'Every key on this server', 'Events of every account’s keys.'],
                  ] as const
                ).map(([value, label, text]) => (
                  <label className="choice" key={value}>
                    <input
                      type="radio"
                      name="scope"
                      checked={scope === value}
                      onChange={() => setScope(value)}
                    />
                    <span>
                      <span className="choice-label">{label}</span>
                      <span className="choice-description">{text}</span>
                    </span>
                  </label>
                ))}
              </div>
            </fieldset>
          )}
          <fieldset className="field" aria-describedby={errors.events ? 'events-error' : undefined}>
            <legend>Events</legend>
            <label className="choice">
              <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />
              <span>
                <span className="choice-label">All events</span>
                <span className="choice-description">
                  Including event types added in later versions.
                </span>
              </span>
            </label>
            {!all && (
              <div className="choices event-choices">
                {EVENT_CHOICES.map((choice) => (
                  <label className="choice" key={choice.type}>
                    <input
                      type="checkbox"
                      checked={events.includes(choice.type)}
                      onChange={(e) => toggle(choice.type, e.target.checked)}
                    />
                    <span>
                      <code className="choice-label">{choice.type}</code>
                      <span className="choice-description">{choice.description}</span>
                    </span>
                  </label>
                ))}
              </div>
            )}
            {errors.events && (
              <p className="field-error" id="events-error">
                {errors.events}
              </p>
            )}
          </fieldset>
        </div>
        <div className="dialog-footer">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {endpoint === undefined ? 'Add endpoint' : 'Save changes'}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

type Open =
  | { kind: 'create' }
  | { kind: 'edit'; endpoint: WebhookEndpoint }
  | { kind: 'delete'; endpoint: WebhookEndpoint }
  | { kind: 'roll'; endpoint: WebhookEndpoint }
  | { kind: 'secret'; endpoint: CreatedWebhookEndpoint; rolled: boolean };

function EndpointDialogs({
  open,
  setOpen,
  onChanged,
  onDeleted,
}: {
  open: Open | null;
  setOpen: (next: Open | null) => void;
  onChanged: () => void;
  onDeleted?: () => void;
}) {
  const toast = useToast();
  if (open === null) return null;
  const close = () => setOpen(null);
  switch (open.kind) {
    case 'create':
      return (
        <EndpointDialog
          onClose={close}
          onSaved={(saved) => {
            setOpen({ kind: 'secret', endpoint: saved as CreatedWebhookEndpoint, rolled: false });
            onChanged();
          }}
        />
      );
    case 'edit':
      return (
        <EndpointDialog
          endpoint={open.endpoint}
          onClose={close}
          onSaved={() => {
            close();
            toast('Saved the endpoint.');
            onChanged();
          }}
        />
      );
    case 'delete':
      return (
        <ConfirmDialog
          title="Delete this endpoint?"
          confirmLabel="Delete endpoint"
          onClose={close}
          onConfirm={async () => {
            await api.deleteWebhook(open.endpoint.id);
            close();
            toast('Deleted the endpoint.');
            onChanged();
            onDeleted?.();
          }}
        >
          <p>
            <code>{open.endpoint.url}</code> gets no more events, and its delivery log is deleted
            with it.
          </p>
        </ConfirmDialog>
      );
    case 'roll':
      return (
        <ConfirmDialog
          title="Roll the signing secret?"
          confirmLabel="Roll secret"
          danger={false}
          onClose={close}
          onConfirm={async () => {
            const rolled = await api.rotateWebhookSecret(open.endpoint.id, '24h');
            setOpen({ kind: 'secret', endpoint: rolled, rolled: true });
            onChanged();
          }}
        >
          <p>
            A new secret signs every event from now on. For 24 hours the old one signs too (both
            signatures are sent), so you can deploy the new one without missing an event.
          </p>
        </ConfirmDialog>
      );
    case 'secret':
      return (
        <ShowOnceDialog
          title={open.rolled ? 'Your new signing secret' : 'Save your signing secret'}
          secret={open.endpoint.secret}
          what="signing secret"
          kept={SECRET_KEPT}
          onClose={close}
        >
          <p className="hint">
            Verify each event’s <code>webhook-signature</code> header with it (the Standard Webhooks
            libraries do it in one call; see docs/EVENTS.md).
          </p>
        </ShowOnceDialog>
      );
  }
}

export function WebhooksPage() {
  const now = useNow();
  const toast = useToast();
  const [endpoints, setEndpoints] = useState<WebhookEndpoint[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [open, setOpen] = useState<Open | null>(null);
  const [reload, setReload] = useState(0);
  const refresh = useCallback(() => setReload((n) => n + 1), []);

  useEffect(() => {
    document.title = 'Webhooks · Keyward';
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload is a trigger
  useEffect(() => {
    api
      .listWebhooks()
      .then((list) => {
        setEndpoints(list.data);
        setFailure(null);
      })
      .catch((error: ApiError) => setFailure(error.message));
  }, [reload]);

  const setEnabled = async (endpoint: WebhookEndpoint, enabled: boolean) => {
    try {
      await api.updateWebhook(endpoint.id, { enabled });
      toast(enabled ? 'Enabled the endpoint.' : 'Disabled the endpoint: it gets no events.');
      refresh();
    } catch (error) {
      toast((error as ApiError).message, 'error');
    }
  };

  return (
    <>
      <PageHeader
        title="Webhooks"
        description="Keyward sends signed events to these addresses when your keys change, expire, leak or near their limits."
        actions={
          <Button variant="primary" onClick={() => setOpen({ kind: 'create' })}>
            Add endpoint
          </Button>
        }
      />
      {failure && (
        <div className="load-failure">
          <Alert title="The endpoints could not be loaded">{failure}</Alert>
          <Button onClick={refresh}>Try again</Button>
        </div>
      )}
      {endpoints === null && !failure && <Spinner label="Loading endpoints" />}
      {endpoints !== null && endpoints.length === 0 && (
        <EmptyState
          title="No webhook endpoints yet"
          action={
            <Button variant="primary" onClick={() => setOpen({ kind: 'create' })}>
              Add your first endpoint
            </Button>
          }
        >
          <p>
            Add an endpoint to hear about key changes, expiries, leaks and usage thresholds as they
            happen, instead of polling.
          </p>
        </EmptyState>
      )}
      {endpoints !== null && endpoints.length > 0 && (
        <div className="card table-card">
          <table className="table webhooks-table">
            <caption className="visually-hidden">Your webhook endpoints</caption>
            <TableHead columns={['Endpoint', 'Events', 'Status', 'Created']} actions />
            <tbody>
              {endpoints.map((endpoint) => (
                <tr key={endpoint.id}>
                  <td data-label="Endpoint" className="cell-name">
                    <Link to={`/webhooks/${endpoint.id}`}>{endpoint.url}</Link>
                    {endpoint.description && (
                      <span className="row-note">{endpoint.description}</span>
                    )}
                    {endpoint.scope === 'deployment' && (
                      <span className="row-note">Every key on this server</span>
                    )}
                  </td>
                  <td data-label="Events">{eventsText(endpoint.events)}</td>
                  <td data-label="Status">
                    <EndpointStatus endpoint={endpoint} />
                    {endpoint.disabled_reason && (
                      <span className="row-note">{endpoint.disabled_reason}</span>
                    )}
                  </td>
                  <td data-label="Created">
                    <RelativeTime iso={endpoint.created_at} now={now} />
                  </td>
                  <td className="cell-actions">
                    <div className="actions">
                      <Button
                        variant="ghost"
                        size="sm"
                        aria-label={`${endpoint.enabled ? 'Disable' : 'Enable'} ${endpoint.url}`}
                        onClick={() => setEnabled(endpoint, !endpoint.enabled)}
                      >
                        {endpoint.enabled ? 'Disable' : 'Enable'}
                      </Button>
                      <Button
                        variant="ghost"
                        size="sm"
                        aria-label={`Edit ${endpoint.url}`}
                        onClick={() => setOpen({ kind: 'edit', endpoint })}
                      >
                        Edit
                      </Button>
                      <Button
                        variant="ghost"
                        size="sm"
                        className="danger-text"
                        aria-label={`Delete ${endpoint.url}`}
                        onClick={() => setOpen({ kind: 'delete', endpoint })}
                      >
                        Delete
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <EndpointDialogs open={open} setOpen={setOpen} onChanged={refresh} />
    </>
  );
}

const DELIVERY_LABEL: Record<DeliveryStatus, string> = {
  pending: 'Retrying',
  succeeded: 'Delivered',
  dead: 'Failed',
};
const DELIVERY_BADGE: Record<DeliveryStatus, string> = {
  pending: 'badge-disabled',
  succeeded: 'badge-active',
  dead: 'badge-revoked',
};

function DeliveryAttempts({
  endpointId,
  delivery,
}: {
  endpointId: string;
  delivery: WebhookDelivery;
}) {
  const [detail, setDetail] = useState<WebhookDeliveryDetail | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    api
      .webhookDelivery(endpointId, delivery.id)
      .then(setDetail)
      .catch((error: ApiError) => setFailure(error.message));
  }, [endpointId, delivery.id]);
  if (failure) return <Alert>{failure}</Alert>;
  if (detail === null) return <Spinner label="Loading attempts" />;
  if (detail.attempt_log.length === 0) return <p className="muted">No attempt yet.</p>;
  return (
    <ol className="attempts">
      {detail.attempt_log.map((attempt, index) => (
        <li key={attempt.attempted_at + String(index)}>
          <strong>
            Attempt {index + 1}, {formatDateTime(attempt.attempted_at)}:
          </strong>{' '}
          {attempt.status === null ? 'no answer' : `HTTP ${attempt.status}`} in{' '}
          {formatNumber(attempt.duration_ms)} ms
          {attempt.error && <> ({attempt.error})</>}
          {attempt.next_attempt_at && <>; next attempt {formatDateTime(attempt.next_attempt_at)}</>}
          {attempt.response_excerpt && (
            <pre className="response-excerpt">{attempt.response_excerpt}</pre>
          )}
        </li>
      ))}
    </ol>
  );
}

export function WebhookDetail({ id }: { id: string }) {
  const toast = useToast();
  const now = useNow();
  const [endpoint, setEndpoint] = useState<WebhookEndpoint | null>(null);
  const [missing, setMissing] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [status, setStatus] = useState<DeliveryStatus | ''>('');
  const [deliveries, setDeliveries] = useState<WebhookDelivery[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [open, setOpen] = useState<Open | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const refresh = useCallback(() => setReload((n) => n + 1), []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload is a trigger
  useEffect(() => {
    api
      .getWebhook(id)
      .then((loaded) => {
        setEndpoint(loaded);
        setFailure(null);
        document.title = `${loaded.url} · Webhooks · Keyward`;
      })
      .catch((error: ApiError) => {
        if (error.status === 404) setMissing(true);
        else setFailure(error.message);
      });
    api
      .webhookDeliveries(id, { limit: 20, ...(status !== '' && { status }) })
      .then((page) => {
        setDeliveries(page.data);
        setCursor(page.has_more ? page.next_cursor : null);
      })
      .catch((error: ApiError) => setFailure(error.message));
  }, [id, status, reload]);

  const more = async () => {
    if (cursor === null) return;
    try {
      const page = await api.webhookDeliveries(id, {
        limit: 20,
        cursor,
        ...(status !== '' && { status }),
      });
      setDeliveries((list) => [...(list ?? []), ...page.data]);
      setCursor(page.has_more ? page.next_cursor : null);
    } catch (error) {
      setFailure((error as ApiError).message);
    }
  };

  const act = async (name: string, run: () => Promise<unknown>, done: string) => {
    setBusy(name);
    try {
      await run();
      toast(done);
      refresh();
    } catch (error) {
      toast((error as ApiError).message, 'error');
    } finally {
      setBusy(null);
    }
  };

  const header = (title: string) => (
    <PageHeader title={title}>
      <Link to="/webhooks" className="breadcrumb">
        ← Webhooks
      </Link>
    </PageHeader>
  );

  if (missing)
    return (
      <>
        {header('Endpoint not found')}
        <EmptyState title="This endpoint was not found">
          <p>It may have been deleted, or the link may be wrong.</p>
        </EmptyState>
      </>
    );
  if (endpoint === null)
    return (
      <>
        {header('Webhook endpoint')}
        {failure ? (
          <div className="load-failure">
            <Alert title="This endpoint could not be loaded">{failure}</Alert>
            <Button variant="primary" onClick={refresh}>
              Try again
            </Button>
          </div>
        ) : (
          <Spinner label="Loading endpoint" />
        )}
      </>
    );

  return (
    <>
      <PageHeader
        title={
          <span className="title-with-badge">
            <span className="break-anywhere">{endpoint.url}</span>{' '}
            <EndpointStatus endpoint={endpoint} />
          </span>
        }
        description={
          <>
            {endpoint.description && <span>{endpoint.description} · </span>}
            <span>{eventsText(endpoint.events)}</span>
          </>
        }
        actions={
          <div className="actions">
            <Button
              busy={busy === 'test'}
              disabled={!endpoint.enabled}
              onClick={() =>
                act('test', () => api.testWebhook(endpoint.id), 'Sent a test event: see it below.')
              }
            >
              Send test event
            </Button>
            <Button
              busy={busy === 'enable'}
              onClick={() =>
                act(
                  'enable',
                  () => api.updateWebhook(endpoint.id, { enabled: !endpoint.enabled }),
                  endpoint.enabled ? 'Disabled the endpoint.' : 'Enabled the endpoint.',
                )
              }
            >
              {endpoint.enabled ? 'Disable' : 'Enable'}
            </Button>
            <Button onClick={() => setOpen({ kind: 'edit', endpoint })}>Edit</Button>
            <Button onClick={() => setOpen({ kind: 'roll', endpoint })}>Roll secret</Button>
            <Button className="danger-text" onClick={() => setOpen({ kind: 'delete', endpoint })}>
              Delete
            </Button>
          </div>
        }
      >
        <Link to="/webhooks" className="breadcrumb">
          ← Webhooks
        </Link>
      </PageHeader>
      {failure && <Alert>{failure}</Alert>}
      {!endpoint.enabled && endpoint.disabled_reason && (
        <Alert kind="warning" title="This endpoint is disabled">
          {endpoint.disabled_reason}. Events that happen meanwhile are not sent to it; enable it to
          receive new ones.
        </Alert>
      )}
      {endpoint.enabled && endpoint.failing_since && (
        <Alert kind="warning" title="Deliveries are failing">
          Every attempt since {formatDateTime(endpoint.failing_since)} failed; Keyward keeps
          retrying, and disables the endpoint if it keeps failing for days.
        </Alert>
      )}
      {endpoint.previous_secret_expires_at && (
        <Alert kind="info">
          The previous signing secret also signs until{' '}
          {formatDateTime(endpoint.previous_secret_expires_at)}.
        </Alert>
      )}
      <section className="card" aria-labelledby="deliveries-title">
        <div className="card-header">
          <h2 id="deliveries-title">Deliveries</h2>
          <div className="toolbar-filter">
            <label htmlFor="delivery-status">Status</label>
            <select
              id="delivery-status"
              value={status}
              onChange={(e) => setStatus(e.target.value as DeliveryStatus | '')}
            >
              <option value="">All</option>
              <option value="succeeded">Delivered</option>
              <option value="pending">Retrying</option>
              <option value="dead">Failed</option>
            </select>
          </div>
          <Button size="sm" variant="ghost" onClick={refresh}>
            Refresh
          </Button>
        </div>
        {deliveries === null ? (
          <Spinner label="Loading deliveries" />
        ) : deliveries.length === 0 ? (
          <p className="card-empty">
            No deliveries {status === '' ? 'yet' : 'with this status'}. Send a test event to see
            one.
          </p>
        ) : (
          <>
            <table className="table deliveries-table">
              <caption className="visually-hidden">
                Deliveries to this endpoint, newest first
              </caption>
              <TableHead columns={['Event', 'Status', 'Attempts', 'Last answer', 'When']} actions />
              <tbody>
                {deliveries.map((delivery) => (
                  <DeliveryRow
                    key={delivery.id}
                    delivery={delivery}
                    endpointId={endpoint.id}
                    now={now}
                    expanded={expanded === delivery.id}
                    onToggle={() => setExpanded((v) => (v === delivery.id ? null : delivery.id))}
                    retrying={busy === delivery.id}
                    onRetry={() =>
                      act(
                        delivery.id,
                        () => api.retryWebhookDelivery(endpoint.id, delivery.id),
                        'Retrying the delivery now.',
                      )
                    }
                  />
                ))}
              </tbody>
            </table>
            {cursor !== null && (
              <div className="card-footer">
                <Button size="sm" onClick={more}>
                  Load more
                </Button>
              </div>
            )}
          </>
        )}
      </section>
      <EndpointDialogs
        open={open}
        setOpen={setOpen}
        onChanged={refresh}
        onDeleted={() => navigate('/webhooks')}
      />
    </>
  );
}

function DeliveryRow({
  delivery,
  endpointId,
  now,
  expanded,
  onToggle,
  retrying,
  onRetry,
}: {
  delivery: WebhookDelivery;
  endpointId: string;
  now: number;
  expanded: boolean;
  onToggle: () => void;
  retrying: boolean;
  onRetry: () => void;
}) {
  const answer =
    delivery.last_status === null
      ? (delivery.last_error ?? '—')
      : `HTTP ${delivery.last_status}${delivery.last_duration_ms === null ? '' : `, ${formatNumber(delivery.last_duration_ms)} ms`}`;
  return (
    <>
      <tr data-delivery-id={delivery.id}>
        <td data-label="Event" className="cell-name">
          <code>{delivery.event_type}</code>
          <span className="row-note">
            <code title="The webhook-id header, the same on every retry">{delivery.event_id}</code>
          </span>
        </td>
        <td data-label="Status">
          <span className={`badge ${DELIVERY_BADGE[delivery.status]}`}>
            {DELIVERY_LABEL[delivery.status]}
          </span>
        </td>
        <td data-label="Attempts">{formatNumber(delivery.attempts)}</td>
        <td data-label="Last answer">
          {answer}
          {delivery.last_response_excerpt && (
            <span className="row-note excerpt">{delivery.last_response_excerpt.slice(0, 120)}</span>
          )}
        </td>
        <td data-label="When">
          {delivery.status === 'pending' && delivery.next_attempt_at ? (
            <span>
              Next attempt <RelativeTime iso={delivery.next_attempt_at} now={now} />
            </span>
          ) : (
            <RelativeTime iso={delivery.delivered_at ?? delivery.updated_at} now={now} />
          )}
        </td>
        <td className="cell-actions">
          <div className="actions">
            <Button
              variant="ghost"
              size="sm"
              aria-expanded={expanded}
              aria-label={`${expanded ? 'Hide' : 'Show'} the attempts of ${delivery.event_type} ${delivery.event_id}`}
              onClick={onToggle}
            >
              {expanded ? 'Hide attempts' : 'Attempts'}
            </Button>
            {delivery.status !== 'succeeded' && (
              <Button
                variant="ghost"
                size="sm"
                busy={retrying}
                aria-label={`Retry ${delivery.event_type} ${delivery.event_id}`}
                onClick={onRetry}
              >
                Retry
              </Button>
            )}
          </div>
        </td>
      </tr>
      {expanded && (
        <tr className="attempts-row">
          <td colSpan={6}>
            <DeliveryAttempts endpointId={endpointId} delivery={delivery} />
            <p className="row-note">{plural(delivery.attempts, 'attempt')} so far.</p>
          </td>
        </tr>
      )}
    </>
  );
}
