import type { Clock } from '../core/clock.ts';

interface Entry<V> {
  value: V;
  freshUntil: number;
}

/**
 * A bounded map with a freshness limit per entry. When full, the oldest insertion goes first
 * (a Map keeps insertion order, so that is O(1)). Entries past their TTL are dropped on read, so
 * a lost invalidation cannot keep a stale record alive for longer than the TTL.
 */
export class RecordCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly maxSize: number;
  private readonly ttlMs: number;
  private readonly clock: Clock;
  private enabled = true;
  /** Lookups that found a fresh entry, and those that did not (for the metrics). */
  hits = 0;
  misses = 0;

  constructor(options: { maxSize: number; ttlMs: number; clock: Clock }) {
    this.maxSize = options.maxSize;
    this.ttlMs = options.ttlMs;
    this.clock = options.clock;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.enabled ? this.entries.get(key) : undefined;
    if (entry === undefined) {
      this.misses += 1;
      return undefined;
    }
    if (entry.freshUntil <= this.clock.now()) {
      this.entries.delete(key);
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    return entry.value;
  }

  set(key: string, value: V): void {
    if (this.maxSize === 0 || !this.enabled) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxSize) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, freshUntil: this.clock.now() + this.ttlMs });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Drops everything and, with `false`, serves and keeps nothing until enabled again. */
  setEnabled(enabled: boolean): void {
    this.entries.clear();
    this.enabled = enabled;
  }
}
