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
  /**
   * Bumped by every invalidation (delete, clear, enable/disable). A record read from the database
   * before an invalidation must not be cached after it: it may be the very record invalidated,
   * read just before its change committed.
   */
  private generation = 0;
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

  /** The invalidation count: read it before a database read whose result is to be cached. */
  get version(): number {
    return this.generation;
  }

  delete(key: string): void {
    this.generation += 1;
    this.entries.delete(key);
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  /** Drops everything and, with `false`, serves and keeps nothing until enabled again. */
  setEnabled(enabled: boolean): void {
    this.generation += 1;
    this.entries.clear();
    this.enabled = enabled;
  }
}
