import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('config', () => {
  it('has working defaults: SQLite at ./data/keyward.db on port 8080', () => {
    const config = loadConfig({});
    expect(config.database).toEqual({
      kind: 'sqlite',
      url: 'sqlite:./data/keyward.db',
      path: './data/keyward.db',
    });
    expect(config.port).toBe(8080);
    expect(config.keyPrefix).toBe('sk');
    expect(config.secureCookies).toBe(false);
    expect(config.plans).toEqual([
      { name: 'free', maxKeys: 10 },
      { name: 'pro', maxKeys: 50 },
      { name: 'enterprise', maxKeys: null },
    ]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.plans[0])).toBe(true);
  });

  it('switches to PostgreSQL and secure cookies from the environment', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u@db:5432/kw',
      PUBLIC_URL: 'https://keys.example.com/',
    });
    expect(config.database.kind).toBe('postgres');
    expect(config.secureCookies).toBe(true);
    expect(config.publicUrl).toBe('https://keys.example.com');
  });

  it('reports every problem at once', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        KEY_PREFIX: 'SK!',
        MAX_KEY_LIFETIME: 'forever',
        TIME_ZONE: 'Mars/Base',
        SESSION_IDLE_TIMEOUT: '0s',
        PLANS: 'free:ten',
        TRUSTED_PROXIES: '10.0.0.1, 999.1.1.1, 10.0.0.0/33, 012.0.0.1',
        INVALIDATION_BUS: 'carrier-pigeon',
        RATE_LIMIT_FAILURE: 'maybe',
        REDIS_KEY_PREFIX: 'has space',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'PORT',
      'DATABASE_URL',
      'KEY_PREFIX',
      'MAX_KEY_LIFETIME',
      'TIME_ZONE',
      'SESSION_IDLE_TIMEOUT',
      'PLANS',
      'TRUSTED_PROXIES entry "999.1.1.1"',
      'TRUSTED_PROXIES entry "10.0.0.0/33"',
      'TRUSTED_PROXIES entry "012.0.0.1"',
      'INVALIDATION_BUS',
      'RATE_LIMIT_FAILURE',
      'REDIS_KEY_PREFIX',
    ]) {
      expect(problems).toContain(name);
    }
    expect(problems).not.toContain('"10.0.0.1"');
  });

  it('picks the invalidation bus: Redis when REDIS_URL is set, else PostgreSQL, else SQLite', () => {
    const pg = 'postgres://u@h/db';
    expect(loadConfig({}).invalidationBus).toBe('sqlite');
    expect(loadConfig({ REDIS_URL: 'redis://h' }).invalidationBus).toBe('redis');
    expect(loadConfig({ DATABASE_URL: pg }).invalidationBus).toBe('postgres');
    expect(loadConfig({ DATABASE_URL: pg, REDIS_URL: 'redis://h' }).invalidationBus).toBe('redis');
    expect(loadConfig({ DATABASE_URL: pg, INVALIDATION_BUS: 'local' }).invalidationBus).toBe(
      'local',
    );
    expect(() => loadConfig({ INVALIDATION_BUS: 'postgres' })).toThrow(/needs a postgres/);
    expect(() => loadConfig({ INVALIDATION_BUS: 'redis' })).toThrow(/needs REDIS_URL/);
    expect(() => loadConfig({ DATABASE_URL: pg, INVALIDATION_BUS: 'sqlite' })).toThrow(
      /needs a sqlite/,
    );
  });

  it('reads SIGNUP: open by default, invite or closed, nothing else', () => {
    expect(loadConfig({}).signup).toBe('open');
    expect(loadConfig({ SIGNUP: 'invite' }).signup).toBe('invite');
    expect(loadConfig({ SIGNUP: 'closed' }).signup).toBe('closed');
    expect(() => loadConfig({ SIGNUP: 'Invite' })).toThrow(
      'SIGNUP must be one of open, invite, closed (got "Invite")',
    );
  });

  it('refuses an argon2 memory below the OWASP floor', () => {
    expect(() => loadConfig({ ARGON2_MEMORY_KIB: '1024' })).toThrow(/ARGON2_MEMORY_KIB/);
  });

  it('reads CONFIG_FILE, with the environment taking precedence, and refuses unknown settings', () => {
    const files: Record<string, string> = {
      'good.json': JSON.stringify({ PORT: 9000, KEY_PREFIX: 'kw' }),
      'bad.json': JSON.stringify({ PROT: 1 }),
    };
    const read = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT');
      return text;
    };
    const config = loadConfig({ CONFIG_FILE: 'good.json', KEY_PREFIX: 'ak' }, read);
    expect(config.port).toBe(9000);
    expect(config.keyPrefix).toBe('ak');
    expect(() => loadConfig({ CONFIG_FILE: 'bad.json' }, read)).toThrow(/unknown setting "PROT"/);
    expect(() => loadConfig({ CONFIG_FILE: 'missing.json' }, read)).toThrow(/CONFIG_FILE/);
  });

  it('has bounded HTTP timeouts and a shutdown whose drain fits in its deadline', () => {
    expect(loadConfig({}).http).toEqual({
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      maxConnections: 10_000,
      shutdownDrainDelayMs: 5_000,
      shutdownTimeoutMs: 25_000,
    });
    expect(loadConfig({ SHUTDOWN_DRAIN_DELAY: '0s' }).http.shutdownDrainDelayMs).toBe(0);
    expect(() => loadConfig({ REQUEST_TIMEOUT: '5s', HEADERS_TIMEOUT: '6s' })).toThrow(
      /HEADERS_TIMEOUT must not be longer than REQUEST_TIMEOUT/,
    );
    expect(() => loadConfig({ SHUTDOWN_DRAIN_DELAY: '30s' })).toThrow(
      /SHUTDOWN_DRAIN_DELAY must be shorter than SHUTDOWN_TIMEOUT/,
    );
    expect(() => loadConfig({ REQUEST_TIMEOUT: '0s' })).toThrow(
      /REQUEST_TIMEOUT must be a duration/,
    );
    expect(() => loadConfig({ MAX_CONNECTIONS: '0' })).toThrow(/MAX_CONNECTIONS/);
  });
});
