import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { Metrics } from '../../src/metrics.ts';
import { createServices } from '../../src/services/index.ts';
import { openStore } from '../../src/storage/database.ts';
import { migrateToLatest } from '../../src/storage/migrations.ts';
import { DATABASES } from '../helpers/databases.ts';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');

/** Every metric family a node exposes (`# TYPE` lines), on each database this machine runs. */
async function exposedFamilies(): Promise<Map<string, string>> {
  const families = new Map<string, string>();
  for (const kind of DATABASES) {
    const database = await kind.create();
    const config = loadConfig({ DATABASE_URL: database.config.url, METRICS_PORT: '0' });
    const store = openStore(config.database);
    try {
      await migrateToLatest(store.db, store.dialect);
      const metrics = new Metrics({ enabled: true });
      metrics.collectProcessMetrics();
      const services = createServices(config, store, { metrics });
      for (const match of (await metrics.text()).matchAll(/^# TYPE (\S+) (\S+)$/gm))
        families.set(match[1] as string, match[2] as string);
      await services.stop();
    } finally {
      await store.close();
      await database.drop();
    }
  }
  return families;
}

const families = await exposedFamilies();

/** The metric families a PromQL expression reads (histogram series named by their family). */
function familiesIn(expr: string): string[] {
  const names = [...expr.matchAll(/\b((?:keyward|process|nodejs)_[a-z0-9_]+)/g)].map(
    (m) => m[1] as string,
  );
  return names.map((name) => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return families.get(base) === 'histogram' ? base : name;
  });
}

describe('deploy/prometheus/alerts.yml', () => {
  const text = readFileSync(join(DEPLOY, 'prometheus', 'alerts.yml'), 'utf8');
  const doc = parse(text) as { groups: { name: string; rules: Record<string, unknown>[] }[] };

  it('is a Prometheus rule file: groups of named alerts, each with expr, labels and annotations', () => {
    expect(Object.keys(doc)).toEqual(['groups']);
    expect(doc.groups.length).toBeGreaterThan(0);
    const names = new Set<string>();
    for (const group of doc.groups) {
      expect(typeof group.name).toBe('string');
      expect(Array.isArray(group.rules)).toBe(true);
      for (const rule of group.rules) {
        for (const field of Object.keys(rule))
          expect(['alert', 'expr', 'for', 'labels', 'annotations']).toContain(field);
        expect(rule.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
        expect(names.has(rule.alert as string), `duplicate alert ${rule.alert}`).toBe(false);
        names.add(rule.alert as string);
        expect(typeof rule.expr).toBe('string');
        if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smhd]$/);
        const labels = rule.labels as Record<string, unknown>;
        expect(['critical', 'warning']).toContain(labels.severity);
        const annotations = rule.annotations as Record<string, unknown>;
        expect(typeof annotations.summary).toBe('string');
        expect(typeof annotations.description).toBe('string');
        // Balanced brackets: a typo here is what promtool would catch first.
        const expr = rule.expr as string;
        for (const [open, close] of ['()', '{}', '[]'])
          expect(expr.split(open as string).length, `${rule.alert}: ${open}${close}`).toBe(
            expr.split(close as string).length,
          );
      }
    }
    // The alerts issue 15 asks for.
    for (const wanted of [
      'KeywardInvalidationBusDown',
      'KeywardUsageFlushLagging',
      'KeywardHigh5xxRate',
      'KeywardLimiterFailing',
    ])
      expect(names).toContain(wanted);
  });

  it('reads only metrics Keyward exposes', () => {
    for (const group of doc.groups)
      for (const rule of group.rules)
        for (const family of familiesIn(rule.expr as string))
          expect(families.has(family), `${rule.alert} reads ${family}`).toBe(true);
  });

  it('prometheus.yml scrapes the job the rules and the dashboard name, and loads the rules', () => {
    const config = parse(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path: string }[];
    };
    expect(config.rule_files).toContain('alerts.yml');
    expect(config.scrape_configs.map((s) => [s.job_name, s.metrics_path])).toEqual([
      ['keyward', '/metrics'],
    ]);
  });
});

describe('deploy/grafana/keyward.json', () => {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'keyward.json'), 'utf8')) as {
    uid: string;
    panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
  };

  it('has panels with unique ids, each query reading only metrics Keyward exposes', () => {
    expect(dashboard.uid).toBe('keyward');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const read = new Set<string>();
    for (const panel of dashboard.panels) {
      if (panel.type === 'row') continue;
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? [])
        for (const family of familiesIn(target.expr)) {
          expect(families.has(family), `${panel.title} reads ${family}`).toBe(true);
          read.add(family);
        }
    }
    // Every Keyward family is on the dashboard (build info is the instance list).
    for (const family of families.keys())
      if (family.startsWith('keyward_') && family !== 'keyward_build_info')
        expect(read, `${family} has no panel`).toContain(family);
  });
});
