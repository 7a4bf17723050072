// Requests per day by outcome, as stacked bars (uPlot), with a table of the same numbers for
// screen readers.
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { UsagePoint } from '../api.ts';
import { formatNumber } from '../format.ts';

export const OUTCOMES: { code: string; label: string; color: string }[] = [
  { code: 'VALID', label: 'Allowed', color: '#16a34a' },
  { code: 'RATE_LIMITED', label: 'Rate limited', color: '#f59e0b' },
  { code: 'QUOTA_EXCEEDED', label: 'Over quota', color: '#fb923c' },
  { code: 'INSUFFICIENT_CREDITS', label: 'Out of credits', color: '#a855f7' },
  { code: 'FORBIDDEN', label: 'Not permitted', color: '#ef4444' },
  { code: 'IP_NOT_ALLOWED', label: 'IP not allowed', color: '#be123c' },
  { code: 'DISABLED', label: 'Key disabled', color: '#94a3b8' },
  { code: 'EXPIRED', label: 'Key expired', color: '#64748b' },
  { code: 'REVOKED', label: 'Key revoked', color: '#334155' },
];

export function outcomeLabel(code: string): string {
  return OUTCOMES.find((o) => o.code === code)?.label ?? code;
}

const DAY = 86_400_000;

function dayLabel(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Every day from `from` to `to` (UTC dates), plus any bucket the server returned outside them. */
export function fillDays(from: string, to: string, points: UsagePoint[]): UsagePoint[] {
  const byDay = new Map(points.map((p) => [p.bucket, p]));
  const days = new Set<string>();
  const start = Date.parse(`${from.slice(0, 10)}T00:00:00Z`);
  const end = Date.parse(`${to.slice(0, 10)}T00:00:00Z`);
  for (let t = start; t <= end; t += DAY) days.add(dayLabel(t));
  for (const p of points) days.add(p.bucket);
  return [...days]
    .sort()
    .map((day) => byDay.get(day) ?? { bucket: day, requests: 0, amount: 0, outcomes: {} });
}

const dateFormat = new Intl.DateTimeFormat('en', {
  month: 'short',
  day: 'numeric',
  timeZone: 'UTC',
});

/** The x-axis labels: one per day, or every n-th day when they would not fit; never a day twice. */
export function daySplits(xs: number[], plotWidthPx: number): number[] {
  const fit = Math.max(1, Math.floor(plotWidthPx / 64));
  const step = Math.max(1, Math.ceil(xs.length / fit));
  return xs.filter((_, i) => (xs.length - 1 - i) % step === 0);
}

export function UsageChart({ points, title }: { points: UsagePoint[]; title: string }) {
  const container = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState<number | null>(null);
  const empty = points.every((p) => p.requests === 0);
  const present = useMemo(() => {
    const codes = new Set<string>(['VALID']);
    for (const p of points) for (const code of Object.keys(p.outcomes)) codes.add(code);
    return OUTCOMES.filter((o) => codes.has(o.code)).concat(
      [...codes]
        .filter((c) => !OUTCOMES.some((o) => o.code === c))
        .map((code) => ({ code, label: code, color: '#0ea5e9' })),
    );
  }, [points]);

  useEffect(() => {
    const element = container.current;
    if (element === null || points.length === 0 || empty) return;
    const xs = points.map((p) => Date.parse(`${p.bucket}T00:00:00Z`) / 1000);
    // Stacked: series i is the sum of outcomes 0..i; drawn from the tallest down so each shows.
    const cumulative: number[][] = [];
    let running = points.map(() => 0);
    for (const outcome of present) {
      running = running.map((sum, i) => sum + (points[i]?.outcomes[outcome.code] ?? 0));
      cumulative.push(running);
    }
    const order = present.map((_, i) => i).reverse();
    const bars = uPlot.paths.bars?.({ size: [0.7, 28], align: 0 });
    const width = Math.max(280, element.clientWidth);
    const options: uPlot.Options = {
      width,
      height: 240,
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      hooks: {
        setCursor: [
          (u) => {
            const index = u.cursor.idx;
            setHover(index === undefined || index === null ? null : index);
          },
        ],
      },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => [min - 43_200, max + 43_200],
        },
        y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
      },
      axes: [
        {
          stroke: '#6b7280',
          grid: { show: false },
          ticks: { show: false },
          font: '12px system-ui, sans-serif',
          // uPlot's own time splits can fall twice on one date (every 12 h): one split per day.
          splits: (u) => daySplits(xs, u.bbox.width / (window.devicePixelRatio || 1)),
          values: (_u, splits) => {
            const labels = splits.map((s) => dateFormat.format(new Date(s * 1000)));
            // The labels drawn on the canvas, readable from the page (tests, debugging).
            element.dataset.xLabels = labels.join('|');
            return labels;
          },
          space: 60,
        },
        {
          stroke: '#6b7280',
          grid: { stroke: '#eef0f3', width: 1 },
          ticks: { show: false },
          font: '12px system-ui, sans-serif',
          size: 44,
          values: (_u, splits) => splits.map((s) => (Number.isInteger(s) ? formatNumber(s) : '')),
        },
      ],
      series: [
        {},
        ...order.map((i) => {
          const outcome = present[i];
          return {
            label: outcome?.label ?? '',
            stroke: outcome?.color ?? '#000',
            fill: outcome?.color ?? '#000',
            width: 0,
            ...(bars !== undefined && { paths: bars }),
            points: { show: false },
          };
        }),
      ],
    };
    const data: uPlot.AlignedData = [xs, ...order.map((i) => cumulative[i] ?? [])];
    const plot = new uPlot(options, data, element);
    const observer = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(280, element.clientWidth), height: 240 });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [points, present, empty]);

  const totals = present.map((o) => ({
    ...o,
    total: points.reduce((sum, p) => sum + (p.outcomes[o.code] ?? 0), 0),
  }));
  const all = totals.reduce((sum, t) => sum + t.total, 0);
  const hoveredPoint = hover === null ? undefined : points[hover];

  return (
    <figure className="chart">
      <figcaption className="visually-hidden">{title}</figcaption>
      <ul className="chart-legend" aria-label="Outcomes">
        {totals.map((t) => (
          <li key={t.code}>
            <span className="swatch" style={{ backgroundColor: t.color }} aria-hidden="true" />
            {t.label} <strong>{formatNumber(t.total)}</strong>
          </li>
        ))}
      </ul>
      {empty ? (
        <p className="chart-empty">No requests in this period.</p>
      ) : (
        <>
          <p className="chart-readout" aria-hidden="true">
            {hoveredPoint === undefined
              ? 'Point at a bar for that day’s numbers.'
              : `${dateFormat.format(Date.parse(`${hoveredPoint.bucket}T00:00:00Z`))}: ${
                  totals
                    .map((t) => ({ ...t, n: hoveredPoint.outcomes[t.code] ?? 0 }))
                    .filter((t) => t.n > 0)
                    .map((t) => `${formatNumber(t.n)} ${t.label.toLowerCase()}`)
                    .join(', ') || 'no requests'
                }`}
          </p>
          <div
            ref={container}
            className="chart-canvas"
            role="img"
            aria-label={`${title}: ${formatNumber(all)} requests in total`}
          />
        </>
      )}
      <div className="visually-hidden">
        <table>
          <caption>{title}</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              {present.map((o) => (
                <th scope="col" key={o.code}>
                  {o.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {points
              .filter((p) => p.requests > 0)
              .map((p) => (
                <tr key={p.bucket}>
                  <th scope="row">{p.bucket}</th>
                  {present.map((o) => (
                    <td key={o.code}>{p.outcomes[o.code] ?? 0}</td>
                  ))}
                </tr>
              ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
