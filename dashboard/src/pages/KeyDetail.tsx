import { type ReactNode, useCallback, useEffect, useState } from 'react';
import {
  type ApiError,
  type ApiKey,
  api,
  type LoggedRequest,
  type UsagePoint,
  type UsageSeries,
} from '../api.ts';
import {
  KeyActionButtons,
  KeyDialogs,
  type OpenDialog,
  useToggleKey,
} from '../components/KeyDialogs.tsx';
import { fillDays, outcomeLabel, UsageChart } from '../components/UsageChart.tsx';
import {
  Alert,
  Button,
  EmptyState,
  EnvBadge,
  ExpiryCue,
  PageHeader,
  RelativeTime,
  Spinner,
  StatusBadge,
  useNow,
} from '../components/ui.tsx';
import { describeWindow, formatDateTime, formatLogTime, formatNumber, plural } from '../format.ts';
import { Link, navigate } from '../router.tsx';

const RANGES = [
  { days: 7, label: '7 days' },
  { days: 30, label: '30 days' },
  { days: 90, label: '90 days' },
];
const DAY = 86_400_000;

interface QuotaUse {
  today: { requests: number; amount: number };
  month: { requests: number; amount: number };
}

/** Today's and this month's allowed requests and amount, from the daily usage history. */
function quotaUse(today: UsagePoint[], recent: UsagePoint[]): QuotaUse {
  const todayPoint = today.at(-1);
  const todayLabel = todayPoint?.bucket ?? new Date().toISOString().slice(0, 10);
  const month = todayLabel.slice(0, 7);
  const sum = (points: UsagePoint[]) => ({
    requests: points.reduce((n, p) => n + (p.outcomes.VALID ?? 0), 0),
    amount: points.reduce((n, p) => n + p.amount, 0),
  });
  return {
    today: sum(todayPoint && todayPoint.bucket === todayLabel ? [todayPoint] : []),
    month: sum(recent.filter((p) => p.bucket.startsWith(month))),
  };
}

function Stat({ label, value, note }: { label: string; value: ReactNode; note?: ReactNode }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>
        <span className="stat-value">{value}</span>
        {note && <span className="stat-note">{note}</span>}
      </dd>
    </div>
  );
}

function QuotaStat({
  label,
  limit,
  used,
  unit,
}: {
  label: string;
  limit: number | undefined;
  used: number;
  unit: string;
}) {
  if (limit === undefined) return null;
  const left = Math.max(0, limit - used);
  const share = limit === 0 ? 1 : Math.min(1, used / limit);
  return (
    <Stat
      label={label}
      value={`${formatNumber(left)} left`}
      note={
        <>
          {formatNumber(used)} of {formatNumber(limit)} {unit} used
          <progress
            className="meter"
            max={limit || 1}
            value={Math.min(used, limit)}
            aria-label={`${label}: ${Math.round(share * 100)}% used`}
          />
        </>
      }
    />
  );
}

export function KeyDetail({ id }: { id: string }) {
  const now = useNow();
  const [key, setKey] = useState<ApiKey | null>(null);
  const [missing, setMissing] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [range, setRange] = useState(30);
  const [series, setSeries] = useState<UsageSeries | null>(null);
  const [quota, setQuota] = useState<QuotaUse | null>(null);
  const [logs, setLogs] = useState<LoggedRequest[] | null>(null);
  const [logCursor, setLogCursor] = useState<number | null>(null);
  const [dialog, setDialog] = useState<OpenDialog | null>(null);
  const [reload, setReload] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload is a trigger
  useEffect(() => {
    let live = true;
    setFailure(null);
    api
      .getKey(id)
      .then((loaded) => {
        if (!live) return;
        setKey(loaded);
        setMissing(false);
        document.title = `${loaded.name} · API keys · Keyward`;
      })
      .catch((error: ApiError) => {
        if (!live) return;
        if (error.status === 404) {
          setMissing(true);
          document.title = 'Key not found · Keyward';
        } else setFailure(error.message);
      });
    const nowIso = new Date().toISOString();
    Promise.all([
      api.usage(id, { granularity: 'day', from: nowIso, to: nowIso }),
      api.usage(id, {
        granularity: 'day',
        from: new Date(Date.now() - 31 * DAY).toISOString(),
        to: nowIso,
      }),
    ])
      .then(([today, recent]) => {
        if (live) setQuota(quotaUse(today.data, recent.data));
      })
      .catch(() => {});
    api
      .logs(id)
      .then((page) => {
        if (!live) return;
        setLogs(page.data);
        setLogCursor(page.next_cursor);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [id, reload]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload is a trigger
  useEffect(() => {
    let live = true;
    api
      .usage(id, {
        granularity: 'day',
        from: new Date(Date.now() - (range - 1) * DAY).toISOString(),
        to: new Date().toISOString(),
      })
      .then((loaded) => {
        if (live) setSeries(loaded);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [id, range, reload]);

  const refresh = useCallback(() => setReload((n) => n + 1), []);
  const { toggle, busy: toggling } = useToggleKey(refresh);

  const moreLogs = async () => {
    if (logCursor === null) return;
    try {
      const page = await api.logs(id, logCursor);
      setLogs((list) => [...(list ?? []), ...page.data]);
      setLogCursor(page.next_cursor);
    } catch (error) {
      setFailure((error as ApiError).message);
    }
  };

  if (missing) {
    return (
      <>
        <PageHeader title="Key not found">
          <Link to="/keys" className="breadcrumb">
            ← API keys
          </Link>
        </PageHeader>
        <EmptyState
          title="This key was not found"
          action={
            <Link to="/keys" className="btn btn-primary btn-md">
              Back to your keys
            </Link>
          }
        >
          <p>
            No key with the id <code>{id}</code> exists in your account. It may have been deleted,
            or the link may be wrong.
          </p>
        </EmptyState>
      </>
    );
  }
  if (key === null) {
    // The heading and breadcrumb are there from the first frame, so focus lands on the title when
    // a key is opened from the keyboard and a screen reader announces the page at once.
    return (
      <>
        <PageHeader title={failure ? 'Key could not be loaded' : 'API key'}>
          <Link to="/keys" className="breadcrumb">
            ← API keys
          </Link>
        </PageHeader>
        {failure ? (
          <div className="load-failure">
            <Alert title="This key could not be loaded">{failure}</Alert>
            <Button variant="primary" onClick={refresh}>
              Try again
            </Button>
          </div>
        ) : (
          <Spinner label="Loading key" />
        )}
      </>
    );
  }

  const points = series ? fillDays(series.from, series.to, series.data) : [];
  const totalRequests = points.reduce((n, p) => n + p.requests, 0);
  const allowed = points.reduce((n, p) => n + (p.outcomes.VALID ?? 0), 0);
  const amount = points.reduce((n, p) => n + p.amount, 0);
  const { limits, credits } = key;

  return (
    <>
      <PageHeader
        title={
          <span className="title-with-badge">
            {key.name} <StatusBadge apiKey={key} /> <ExpiryCue apiKey={key} now={now} />
          </span>
        }
        description={
          <span className="key-meta">
            <code className="masked">{key.masked}</code>
            <EnvBadge environment={key.environment} />
            <span>
              Last used <RelativeTime iso={key.last_used_at} now={now} never="never" />
            </span>
          </span>
        }
        actions={
          <KeyActionButtons
            apiKey={key}
            size="md"
            onAction={(action, target) => setDialog({ kind: action, key: target })}
            onToggle={toggle}
            toggling={toggling === key.id}
          />
        }
      >
        <Link to="/keys" className="breadcrumb">
          ← API keys
        </Link>
      </PageHeader>
      {failure && <Alert>{failure}</Alert>}
      {key.rotated_from && (key.limits.daily || key.limits.monthly || key.limits.rate) && (
        <Alert kind="info">
          This key replaced <Link to={`/keys/${key.rotated_from}`}>the previous key</Link> on{' '}
          {formatDateTime(key.created_at)}. Its rate limits and quotas count from then; the previous
          key's use stays counted on that key.
        </Alert>
      )}
      {key.rotated_to && (
        <Alert kind="info">
          This key was rotated. Its replacement is{' '}
          <Link to={`/keys/${key.rotated_to}`}>the new key</Link>
          {key.expires_at ? `; this one stops working ${formatDateTime(key.expires_at)}.` : '.'}
        </Alert>
      )}

      <dl className="stats">
        <Stat
          label={`Requests checked, last ${range} days`}
          value={formatNumber(totalRequests)}
          note={`${formatNumber(allowed)} allowed, ${formatNumber(totalRequests - allowed)} refused`}
        />
        <Stat
          label={`Amount used, last ${range} days`}
          value={formatNumber(amount)}
          note="Summed cost of allowed requests"
        />
        <Stat
          label="Credits remaining"
          value={credits.remaining === null ? 'Unlimited' : formatNumber(credits.remaining)}
          note={
            credits.refill
              ? `Refills ${formatNumber(credits.refill.amount)} ${credits.refill.interval === 'daily' ? 'every day' : 'every month'}`
              : key.billing === 'usage'
                ? 'Usage-based billing'
                : 'Per-request billing'
          }
        />
        {quota && (
          <>
            <QuotaStat
              label="Daily quota"
              limit={limits.daily?.requests}
              used={quota.today.requests}
              unit="requests"
            />
            <QuotaStat
              label="Daily amount quota"
              limit={limits.daily?.amount}
              used={quota.today.amount}
              unit=""
            />
            <QuotaStat
              label="Monthly quota"
              limit={limits.monthly?.requests}
              used={quota.month.requests}
              unit="requests"
            />
            <QuotaStat
              label="Monthly amount quota"
              limit={limits.monthly?.amount}
              used={quota.month.amount}
              unit=""
            />
          </>
        )}
      </dl>

      <section className="card" aria-labelledby="usage-title">
        <div className="card-header">
          <h2 id="usage-title">Requests per day</h2>
          <fieldset className="segmented segmented-small">
            <legend className="visually-hidden">Time range</legend>
            {RANGES.map((r) => (
              <button
                key={r.days}
                type="button"
                aria-pressed={range === r.days}
                className={range === r.days ? 'selected' : ''}
                onClick={() => setRange(r.days)}
              >
                {r.label}
              </button>
            ))}
          </fieldset>
        </div>
        {series === null ? (
          <Spinner label="Loading usage" />
        ) : (
          <UsageChart points={points} title={`Requests per day by outcome, last ${range} days`} />
        )}
      </section>

      <div className="columns">
        <section className="card" aria-labelledby="settings-title">
          <div className="card-header">
            <h2 id="settings-title">Settings</h2>
          </div>
          <dl className="details">
            <div>
              <dt>Created</dt>
              <dd>{formatDateTime(key.created_at)}</dd>
            </div>
            <div>
              <dt>Expires</dt>
              <dd>{key.expires_at ? formatDateTime(key.expires_at) : 'Never'}</dd>
            </div>
            {key.revoked_at && (
              <div>
                <dt>Revoked</dt>
                <dd>{formatDateTime(key.revoked_at)}</dd>
              </div>
            )}
            <div>
              <dt>Permissions</dt>
              <dd>
                {key.permissions.length === 1 && key.permissions[0] === '*'
                  ? 'Full access'
                  : key.permissions.length === 1 && key.permissions[0] === '*:read'
                    ? 'Read-only'
                    : key.permissions.map((p) => (
                        <code key={p} className="tag">
                          {p}
                        </code>
                      ))}
              </dd>
            </div>
            <div>
              <dt>IP allowlist</dt>
              <dd>
                {key.ip_allowlist.length === 0
                  ? 'Any address'
                  : key.ip_allowlist.map((ip) => (
                      <code key={ip} className="tag">
                        {ip}
                      </code>
                    ))}
              </dd>
            </div>
            <div>
              <dt>Rate limit</dt>
              <dd>
                {limits.rate && limits.rate.length > 0
                  ? limits.rate
                      .map((r) => `${formatNumber(r.limit)} per ${describeWindow(r.window)}`)
                      .join(', ')
                  : 'None'}
              </dd>
            </div>
            <div>
              <dt>Quotas</dt>
              <dd>
                {[
                  limits.daily?.requests !== undefined &&
                    `${formatNumber(limits.daily.requests)} requests a day`,
                  limits.daily?.amount !== undefined &&
                    `${formatNumber(limits.daily.amount)} amount a day`,
                  limits.monthly?.requests !== undefined &&
                    `${formatNumber(limits.monthly.requests)} requests a month`,
                  limits.monthly?.amount !== undefined &&
                    `${formatNumber(limits.monthly.amount)} amount a month`,
                ]
                  .filter(Boolean)
                  .join(', ') || 'None'}
              </dd>
            </div>
            <div>
              <dt>Billing</dt>
              <dd>{key.billing === 'usage' ? 'Usage-based' : 'Per request'}</dd>
            </div>
            <div>
              <dt>Allowed requests, all time</dt>
              <dd>{plural(key.usage_count, 'request')}</dd>
            </div>
            {key.rotated_from && (
              <div>
                <dt>Rotated from</dt>
                <dd>
                  <Link to={`/keys/${key.rotated_from}`}>previous key</Link>
                </dd>
              </div>
            )}
            <div>
              <dt>Key id</dt>
              <dd>
                <code>{key.id}</code>
              </dd>
            </div>
          </dl>
        </section>

        <section className="card" aria-labelledby="log-title">
          <div className="card-header">
            <h2 id="log-title">Recent requests</h2>
            <Button size="sm" variant="ghost" onClick={refresh}>
              Refresh
            </Button>
          </div>
          {logs === null ? (
            <Spinner label="Loading requests" />
          ) : logs.length === 0 ? (
            <p className="card-empty">
              No requests yet. Requests made with this key show up here within a few seconds.
            </p>
          ) : (
            <>
              <table className="table log-table">
                <caption className="visually-hidden">Recent requests made with this key</caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">Request</th>
                    <th scope="col">IP</th>
                    <th scope="col" className="num">
                      {key.billing === 'usage' ? 'Reserved' : 'Charged'}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {logs.map((entry, index) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: log entries have no id; the list only grows at its end
                    <tr key={`${entry.at}-${index}`}>
                      <td data-label="Time">
                        <time dateTime={entry.at}>{formatLogTime(entry.at)}</time>
                      </td>
                      <td data-label="Outcome">
                        <span
                          className={`outcome outcome-${entry.outcome === 'VALID' ? 'ok' : 'refused'}`}
                        >
                          {outcomeLabel(entry.outcome)}
                        </span>
                      </td>
                      <td data-label="Request">
                        {entry.method || entry.path ? (
                          <code>
                            {entry.method} {entry.path}
                          </code>
                        ) : (
                          <span className="muted">Verification</span>
                        )}
                      </td>
                      <td data-label="IP">{entry.ip ?? '—'}</td>
                      <td
                        data-label={key.billing === 'usage' ? 'Reserved' : 'Charged'}
                        className="num"
                      >
                        {entry.outcome === 'VALID' ? (
                          formatNumber(entry.cost)
                        ) : (
                          // A refused request costs nothing (POLICIES.md); the log keeps what it
                          // asked for, which is not a charge.
                          <span title={`Not charged (asked for ${formatNumber(entry.cost)})`}>
                            0<span className="visually-hidden"> (refused, not charged)</span>
                          </span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {key.billing === 'usage' && (
                <p className="card-note">
                  Usage-billed calls show the amount reserved when the key was checked; the settled
                  amount is what “Amount used” and the chart count.
                </p>
              )}
              {logCursor !== null && (
                <div className="card-footer">
                  <Button size="sm" onClick={moreLogs}>
                    Load more
                  </Button>
                </div>
              )}
            </>
          )}
        </section>
      </div>

      <KeyDialogs
        open={dialog}
        setOpen={setDialog}
        onChanged={refresh}
        onDeleted={() => navigate('/keys')}
      />
    </>
  );
}
