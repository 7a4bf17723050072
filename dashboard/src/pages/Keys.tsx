import { useCallback, useEffect, useState } from 'react';
import { type ApiError, type ApiKey, api, type Environment, type KeyStatus } from '../api.ts';
import { KeyActionButtons, KeyDialogs, type OpenDialog } from '../components/KeyDialogs.tsx';
import {
  Alert,
  Button,
  EmptyState,
  EnvBadge,
  environmentLabel,
  PageHeader,
  RelativeTime,
  Spinner,
  StatusBadge,
  TableHead,
  useNow,
} from '../components/ui.tsx';
import { formatDate, formatDateTime, formatNumber } from '../format.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.ts';

const PAGE_SIZE = 20;

export function PlanUsageLine() {
  const { me } = useSession();
  const { plan, keys_used, keys_limit } = me.plan_usage;
  if (keys_limit === null)
    return (
      <span className="plan-usage">
        {formatNumber(keys_used)} keys in use · {plan} plan (no limit)
      </span>
    );
  const full = keys_used >= keys_limit;
  return (
    <span className={`plan-usage${full ? ' plan-full' : ''}`}>
      {keys_used} of {keys_limit} keys used · {plan} plan
    </span>
  );
}

export function KeysPage() {
  const { me } = useSession();
  const now = useNow();
  const [status, setStatus] = useState<KeyStatus | ''>('');
  const [environment, setEnvironment] = useState<Environment | ''>('');
  const [searchInput, setSearchInput] = useState('');
  const [search, setSearch] = useState('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<{ keys: ApiKey[]; next: string | null } | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const [dialog, setDialog] = useState<OpenDialog | null>(null);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    document.title = 'API keys · Keyward';
  }, []);

  // Search as you type, a moment after the last keystroke.
  useEffect(() => {
    const timer = window.setTimeout(() => {
      setSearch(searchInput.trim());
      setCursors([undefined]);
    }, 250);
    return () => window.clearTimeout(timer);
  }, [searchInput]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload is a trigger
  useEffect(() => {
    const controller = new AbortController();
    setFailure(null);
    api
      .listKeys(
        {
          limit: PAGE_SIZE,
          owner_id: me.user.id,
          ...(status !== '' && { status }),
          ...(environment !== '' && { environment }),
          ...(search !== '' && { search }),
          ...(cursor !== undefined && { cursor }),
        },
        controller.signal,
      )
      .then((list) => setPage({ keys: list.data, next: list.has_more ? list.next_cursor : null }))
      .catch((error: ApiError) => {
        if (error.name !== 'AbortError') setFailure(error.message);
      });
    return () => controller.abort();
  }, [status, environment, search, cursor, reload]);

  const refresh = useCallback(() => setReload((n) => n + 1), []);
  const filtered = status !== '' || environment !== '' || search !== '';
  const clearFilters = () => {
    setStatus('');
    setEnvironment('');
    setSearchInput('');
    setSearch('');
    setCursors([undefined]);
  };
  const atLimit =
    me.plan_usage.keys_limit !== null && me.plan_usage.keys_used >= me.plan_usage.keys_limit;
  const pageNumber = cursors.length;
  const firstIndex = (pageNumber - 1) * PAGE_SIZE + 1;

  const createButton = (
    <Button variant="primary" onClick={() => setDialog({ kind: 'create' })}>
      Create key
    </Button>
  );

  return (
    <>
      <PageHeader
        title="API keys"
        description={
          <>
            Keys let your applications call the API. Treat them like passwords. <PlanUsageLine />
          </>
        }
        actions={createButton}
      />
      {atLimit && (
        <Alert kind="warning" title="You have used every key your plan allows">
          Revoke or delete a key you no longer need before creating another, or ask your operator
          for a bigger plan.
        </Alert>
      )}
      {failure && <Alert>{failure}</Alert>}
      {page !== null && (page.keys.length > 0 || filtered || pageNumber > 1) && (
        <search className="toolbar" aria-label="Filter keys">
          <div className="toolbar-search">
            <label htmlFor="key-search" className="visually-hidden">
              Search keys by name
            </label>
            <input
              id="key-search"
              type="search"
              placeholder="Search by name"
              value={searchInput}
              onChange={(event) => setSearchInput(event.target.value)}
            />
          </div>
          <div className="toolbar-filter">
            <label htmlFor="status-filter">Status</label>
            <select
              id="status-filter"
              value={status}
              onChange={(event) => {
                setStatus(event.target.value as KeyStatus | '');
                setCursors([undefined]);
              }}
            >
              <option value="">All</option>
              <option value="active">Active</option>
              <option value="disabled">Disabled</option>
              <option value="expired">Expired</option>
              <option value="revoked">Revoked</option>
            </select>
          </div>
          <div className="toolbar-filter">
            <label htmlFor="environment-filter">Environment</label>
            <select
              id="environment-filter"
              value={environment}
              onChange={(event) => {
                setEnvironment(event.target.value as Environment | '');
                setCursors([undefined]);
              }}
            >
              <option value="">All</option>
              {me.environments.map((name) => (
                <option key={name} value={name}>
                  {environmentLabel(name)}
                </option>
              ))}
            </select>
          </div>
        </search>
      )}
      {page === null && !failure && <Spinner label="Loading keys" />}
      {page !== null && page.keys.length === 0 && !filtered && pageNumber === 1 && (
        <EmptyState
          title="No API keys yet"
          action={
            <Button variant="primary" onClick={() => setDialog({ kind: 'create' })}>
              Create your first key
            </Button>
          }
        >
          <p>
            Create a key, copy it (it is shown only once), and send it with each request as{' '}
            <code>Authorization: Bearer sk_…</code>.
          </p>
        </EmptyState>
      )}
      {page !== null && page.keys.length === 0 && (filtered || pageNumber > 1) && (
        <div className="empty empty-small">
          <p>No keys match these filters.</p>
          <Button onClick={clearFilters}>Clear filters</Button>
        </div>
      )}
      {page !== null && page.keys.length > 0 && (
        <div className="card table-card">
          <table className="table keys-table">
            <caption className="visually-hidden">
              Your API keys, newest first
              {filtered ? ' (filtered)' : ''}
            </caption>
            <TableHead
              columns={['Name', 'Environment', 'Key', 'Created', 'Last used', 'Expires', 'Status']}
              actions
            />
            <tbody>
              {page.keys.map((key) => (
                <tr key={key.id} data-key-id={key.id}>
                  <td data-label="Name" className="cell-name">
                    <Link to={`/keys/${key.id}`}>{key.name}</Link>
                  </td>
                  <td data-label="Environment">
                    <EnvBadge environment={key.environment} />
                  </td>
                  <td data-label="Key">
                    <code className="masked">{key.masked}</code>
                  </td>
                  <td data-label="Created">
                    <time dateTime={key.created_at} title={formatDateTime(key.created_at)}>
                      {formatDate(key.created_at)}
                    </time>
                  </td>
                  <td data-label="Last used" className="cell-last-used">
                    <RelativeTime iso={key.last_used_at} now={now} />
                  </td>
                  <td data-label="Expires">
                    {key.expires_at === null ? (
                      <span className="muted">Never</span>
                    ) : (
                      <time dateTime={key.expires_at} title={formatDateTime(key.expires_at)}>
                        {formatDate(key.expires_at)}
                      </time>
                    )}
                  </td>
                  <td data-label="Status">
                    <StatusBadge apiKey={key} />
                  </td>
                  <td className="cell-actions">
                    <KeyActionButtons
                      apiKey={key}
                      onAction={(action, target) => setDialog({ kind: action, key: target })}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pagination" aria-label="Pages of keys">
            <span className="muted">
              {formatNumber(firstIndex)}–{formatNumber(firstIndex + page.keys.length - 1)}
            </span>
            <div>
              <Button
                size="sm"
                disabled={pageNumber === 1}
                onClick={() => setCursors((list) => list.slice(0, -1))}
              >
                Previous
              </Button>
              <Button
                size="sm"
                disabled={page.next === null}
                onClick={() => {
                  const next = page.next;
                  if (next !== null) setCursors((list) => [...list, next]);
                }}
              >
                Next
              </Button>
            </div>
          </nav>
        </div>
      )}
      <KeyDialogs open={dialog} setOpen={setDialog} onChanged={refresh} />
    </>
  );
}
