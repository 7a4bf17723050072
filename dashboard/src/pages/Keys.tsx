import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiError, type ApiKey, api, type Environment, type KeyStatus } from '../api.ts';
import {
  KeyActionButtons,
  KeyDialogs,
  type OpenDialog,
  useToggleKey,
} from '../components/KeyDialogs.tsx';
import {
  Alert,
  Button,
  EmptyState,
  EnvBadge,
  ExpiryCue,
  environmentLabel,
  PageHeader,
  RelativeTime,
  Spinner,
  StatusBadge,
  TableHead,
  useNow,
} from '../components/ui.tsx';
import { formatDate, formatDateTime, formatNumber, plural } from '../format.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { useSession } from '../session.ts';

const PAGE_SIZE = 20;

/** "Free plan: 7 of 10 keys used", one unit that wraps as a whole, never with a stray "·". */
export function PlanUsageLine() {
  const { me } = useSession();
  const { plan, keys_used, keys_limit } = me.plan_usage;
  const planName = `${plan.charAt(0).toUpperCase()}${plan.slice(1)} plan`;
  if (keys_limit === null)
    return (
      <span className="plan-usage">
        {planName}: {plural(keys_used, 'key')} in use, no limit
      </span>
    );
  const full = keys_used >= keys_limit;
  return (
    <span className={`plan-usage${full ? ' plan-full' : ''}`}>
      {planName}: {formatNumber(keys_used)} of {formatNumber(keys_limit)} keys used
    </span>
  );
}

/** The list's state, kept in the URL so Back, Forward, reload and a shared link restore it. */
interface ListState {
  status: KeyStatus | '';
  environment: Environment | '';
  search: string;
  /** The cursors of the pages before this one: empty on page 1. */
  cursors: string[];
}

const STATUSES: KeyStatus[] = ['active', 'disabled', 'expired', 'revoked'];

function readListState(search: URLSearchParams): ListState {
  const status = search.get('status') ?? '';
  const environment = search.get('environment') ?? '';
  const after = search.get('after');
  return {
    status: (STATUSES as string[]).includes(status) ? (status as KeyStatus) : '',
    // Any environment name; the filter offers the deployment's (me.environments).
    environment: /^[a-z]{2,12}$/.test(environment) ? environment : '',
    search: (search.get('q') ?? '').slice(0, 100),
    cursors: after ? after.split('.').filter((c) => /^[A-Za-z0-9_-]{1,200}$/.test(c)) : [],
  };
}

function listUrl(state: ListState): string {
  const params = new URLSearchParams();
  if (state.status) params.set('status', state.status);
  if (state.environment) params.set('environment', state.environment);
  if (state.search) params.set('q', state.search);
  if (state.cursors.length > 0) params.set('after', state.cursors.join('.'));
  const text = params.toString();
  return text ? `/keys?${text}` : '/keys';
}

/**
 * What a search box may send: a pasted whole key is cut to its visible start (`sk_live_efe4`),
 * which is what search matches, so a secret never goes into a URL or a server log.
 */
export function searchTerm(text: string): string {
  const trimmed = text.trim();
  const key = /^([a-z][a-z0-9]{0,11}_[a-z]{2,12}_[A-Za-z0-9]{4})[A-Za-z0-9]{8,}$/.exec(trimmed);
  return key?.[1] ?? trimmed;
}

interface LoadedPage {
  keys: ApiKey[];
  next: string | null;
  total: number;
  /** The state the page was loaded for: what the counter and the buttons describe. */
  state: ListState;
}

const DENSITY_KEY = 'keyward.density';

export function KeysPage() {
  const { me } = useSession();
  const now = useNow();
  const location = useLocation();
  const state = readListState(location.search);
  const stateKey = listUrl(state);
  const [searchInput, setSearchInput] = useState(state.search);
  const [page, setPage] = useState<LoadedPage | null>(null);
  const [loading, setLoading] = useState(true);
  const [failure, setFailure] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const [dialog, setDialog] = useState<OpenDialog | null>(null);
  const [compact, setCompact] = useState(() => localStorage.getItem(DENSITY_KEY) === 'compact');
  const searchRef = useRef<HTMLInputElement>(null);
  const listTop = useRef<HTMLDivElement>(null);
  const refresh = useCallback(() => setReload((n) => n + 1), []);
  const { toggle, busy: toggling } = useToggleKey(refresh);

  useEffect(() => {
    document.title = 'API keys · Keyward';
  }, []);

  const go = useCallback((next: ListState, options: { replace?: boolean } = {}) => {
    navigate(listUrl(next), options);
  }, []);

  // Search as you type, a moment after the last keystroke (replacing the history entry, so Back
  // does not step through every letter).
  // biome-ignore lint/correctness/useExhaustiveDependencies: only the typed text starts a search
  useEffect(() => {
    const term = searchTerm(searchInput);
    if (term === state.search) return;
    const timer = window.setTimeout(
      () => go({ ...state, search: term, cursors: [] }, { replace: true }),
      250,
    );
    return () => window.clearTimeout(timer);
  }, [searchInput]);

  // The box follows the URL when Back or Forward changes the search.
  // biome-ignore lint/correctness/useExhaustiveDependencies: only a change of the URL's search
  useEffect(() => {
    if (searchTerm(searchInput) !== state.search) setSearchInput(state.search);
  }, [state.search]);

  // "/" jumps to the search box, as on GitHub and Stripe.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target as HTMLElement | null;
      if (target?.closest('input, textarea, select, [contenteditable="true"], [role="dialog"]'))
        return;
      if (searchRef.current === null) return;
      event.preventDefault();
      searchRef.current.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: stateKey stands for the state; reload is a trigger
  useEffect(() => {
    const controller = new AbortController();
    const wanted = state;
    setLoading(true);
    setFailure(null);
    api
      .listKeys(
        {
          limit: PAGE_SIZE,
          owner_id: me.user.id,
          ...(wanted.status !== '' && { status: wanted.status }),
          ...(wanted.environment !== '' && { environment: wanted.environment }),
          ...(wanted.search !== '' && { search: wanted.search }),
          ...(wanted.cursors.length > 0 && { cursor: wanted.cursors[wanted.cursors.length - 1] }),
        },
        controller.signal,
      )
      .then((list) => {
        setPage({
          keys: list.data,
          next: list.has_more ? list.next_cursor : null,
          total: list.total_count,
          state: wanted,
        });
        setLoading(false);
      })
      .catch((error: ApiError) => {
        if (error.name === 'AbortError') return;
        // The rows, counter and buttons keep describing the page that is shown; the failure
        // shows beside them, where the eye is, with a way to try again.
        scrollOnArrival.current = false;
        setFailure(error.message);
        setLoading(false);
      });
    return () => controller.abort();
  }, [stateKey, reload]);

  const shown = page?.state ?? state;
  const filtered = shown.status !== '' || shown.environment !== '' || shown.search !== '';
  const pageNumber = shown.cursors.length + 1;
  const firstIndex = (pageNumber - 1) * PAGE_SIZE + 1;
  const atLimit =
    me.plan_usage.keys_limit !== null && me.plan_usage.keys_used >= me.plan_usage.keys_limit;

  // After Previous or Next, the new page is shown from its top, once it has arrived (a failure
  // leaves the view where it is, beside the error).
  const scrollOnArrival = useRef(false);
  const turn = (cursors: string[]) => {
    scrollOnArrival.current = true;
    go({ ...shown, cursors });
  };
  useEffect(() => {
    if (page === null || !scrollOnArrival.current) return;
    scrollOnArrival.current = false;
    listTop.current?.scrollIntoView({ block: 'start' });
  }, [page]);
  const clearFilters = () => {
    setSearchInput('');
    go({ status: '', environment: '', search: '', cursors: [] });
  };
  const setDensity = (next: boolean) => {
    setCompact(next);
    localStorage.setItem(DENSITY_KEY, next ? 'compact' : 'comfortable');
  };

  const createButton = (
    <div className="create-action">
      <Button
        variant="primary"
        disabled={atLimit}
        aria-describedby={atLimit ? 'plan-limit-note' : undefined}
        onClick={() => setDialog({ kind: 'create' })}
      >
        Create key
      </Button>
    </div>
  );

  const failureAlert = failure && (
    <div className="load-failure">
      <Alert title="The keys could not be loaded">{failure}</Alert>
      <Button onClick={refresh}>Try again</Button>
    </div>
  );

  return (
    <>
      <PageHeader
        title="API keys"
        description={
          <>
            <span>Keys let your applications call the API. Treat them like passwords.</span>{' '}
            <PlanUsageLine />
          </>
        }
        actions={createButton}
      />
      {atLimit && (
        <Alert kind="warning" title="You have used every key your plan allows">
          <span id="plan-limit-note">
            Creating a key is off until you revoke or delete a key you no longer need, or your
            operator gives you a bigger plan.
          </span>
        </Alert>
      )}
      {page === null && failureAlert}
      {page !== null && (page.keys.length > 0 || filtered || pageNumber > 1) && (
        <search className="toolbar" aria-label="Filter keys">
          <div className="toolbar-search">
            <label htmlFor="key-search" className="visually-hidden">
              Search keys by name, key id or the start of a key
            </label>
            <input
              id="key-search"
              ref={searchRef}
              type="search"
              placeholder="Search name, key id or sk_live_…   ( / )"
              aria-keyshortcuts="/"
              value={searchInput}
              autoComplete="off"
              spellCheck={false}
              onChange={(event) => setSearchInput(event.target.value)}
            />
          </div>
          <div className="toolbar-filter">
            <label htmlFor="status-filter">Status</label>
            <select
              id="status-filter"
              value={state.status}
              onChange={(event) =>
                go({ ...state, status: event.target.value as KeyStatus | '', cursors: [] })
              }
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
              value={state.environment}
              onChange={(event) =>
                go({ ...state, environment: event.target.value as Environment | '', cursors: [] })
              }
            >
              <option value="">All</option>
              {me.environments.map((name) => (
                <option key={name} value={name}>
                  {environmentLabel(name)}
                </option>
              ))}
            </select>
          </div>
          <div className="toolbar-filter">
            <label htmlFor="density">Rows</label>
            <select
              id="density"
              value={compact ? 'compact' : 'comfortable'}
              onChange={(event) => setDensity(event.target.value === 'compact')}
            >
              <option value="comfortable">Comfortable</option>
              <option value="compact">Compact</option>
            </select>
          </div>
        </search>
      )}
      {page === null && !failure && <Spinner label="Loading keys" />}
      {page !== null && page.keys.length === 0 && !filtered && pageNumber === 1 && (
        <EmptyState
          title="No API keys yet"
          action={
            <Button
              variant="primary"
              disabled={atLimit}
              onClick={() => setDialog({ kind: 'create' })}
            >
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
        <div
          ref={listTop}
          className={`card table-card${loading ? ' is-loading' : ''}`}
          aria-busy={loading}
        >
          <table className={`table keys-table${compact ? ' table-compact' : ''}`}>
            <caption className="visually-hidden">
              Your API keys, newest first
              {filtered ? ' (filtered)' : ''}
            </caption>
            <colgroup>
              <col className="col-name" />
              <col className="col-key" />
              <col className="col-env" />
              <col className="col-date" />
              <col className="col-date" />
              <col className="col-date" />
              <col className="col-status" />
              <col className="col-actions" />
            </colgroup>
            <TableHead
              columns={['Name', 'Key', 'Environment', 'Created', 'Last used', 'Expires', 'Status']}
              actions
            />
            <tbody>
              {page.keys.map((key) => (
                <tr key={key.id} data-key-id={key.id}>
                  <td data-label="Name" className="cell-name">
                    <Link to={`/keys/${key.id}`}>{key.name}</Link>
                    {key.rotated_to !== null && key.status !== 'revoked' && (
                      <span className="row-note">Replaced by a rotation</span>
                    )}
                    {key.rotated_from !== null && (
                      <span className="row-note">New key from a rotation</span>
                    )}
                  </td>
                  <td data-label="Key">
                    <code className="masked">{key.masked}</code>
                  </td>
                  <td data-label="Environment">
                    <EnvBadge environment={key.environment} />
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
                    <ExpiresCell apiKey={key} now={now} />
                  </td>
                  <td data-label="Status">
                    <span className="status-cell">
                      <StatusBadge apiKey={key} />
                      <ExpiryCue apiKey={key} now={now} />
                    </span>
                  </td>
                  <td className="cell-actions">
                    <KeyActionButtons
                      apiKey={key}
                      onAction={(action, target) => setDialog({ kind: action, key: target })}
                      onToggle={toggle}
                      toggling={toggling === key.id}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {failureAlert}
          <nav className="pagination" aria-label="Pages of keys">
            <span className="muted" aria-live="polite">
              {loading ? (
                'Loading…'
              ) : (
                <>
                  {formatNumber(firstIndex)}–{formatNumber(firstIndex + page.keys.length - 1)} of{' '}
                  {plural(page.total, 'key')}
                </>
              )}
            </span>
            {(pageNumber > 1 || page.next !== null) && (
              <div>
                <Button
                  size="sm"
                  disabled={pageNumber === 1 || loading}
                  onClick={() => turn(shown.cursors.slice(0, -1))}
                >
                  Previous
                </Button>
                <Button
                  size="sm"
                  disabled={page.next === null || loading}
                  onClick={() => {
                    const next = page.next;
                    if (next !== null) turn([...shown.cursors, next]);
                  }}
                >
                  Next
                </Button>
              </div>
            )}
          </nav>
        </div>
      )}
      <KeyDialogs open={dialog} setOpen={setDialog} onChanged={refresh} />
    </>
  );
}

/** Expiry, and for a rotated key that still works, when it stops ("Expires in 3 days": ExpiryCue). */
function ExpiresCell({ apiKey, now }: { apiKey: ApiKey; now: number }) {
  if (apiKey.expires_at === null) return <span className="muted">Never</span>;
  const left = Date.parse(apiKey.expires_at) - now;
  return (
    <time dateTime={apiKey.expires_at} title={formatDateTime(apiKey.expires_at)}>
      {apiKey.rotated_to !== null && left > 0 ? 'Stops ' : ''}
      {formatDate(apiKey.expires_at)}
    </time>
  );
}
