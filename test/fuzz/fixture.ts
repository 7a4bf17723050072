import type { Scope } from '../../src/core/token.ts';
import { CLI_ACTOR } from '../../src/services/actor.ts';
import { type Harness, uniqueEmail } from '../helpers/harness.ts';
import { type ActorName, TOKEN_SCOPES } from './operations.ts';
import { cursorPool, FIXTURE_PASSWORD, POOL_REF, type Pool } from './requests.ts';

const POOL_CAP = 200;

interface Credentials {
  sessions: Record<
    'a' | 'b' | 'admin',
    { userId: string; cookie: string; csrf: string; sessionId: string }
  >;
  tokens: Record<string, { secret: string; ownerId: string }>;
  users: {
    id: string;
    email: string;
    role: 'user' | 'admin';
    plan: string;
    passwordHash: string;
  }[];
}

/** The accounts, sessions, tokens and keys the fuzzer acts with, and what it learned since. */
export class Fixture {
  readonly pools: Record<Pool, string[]> = {
    ownKey: [],
    foreignKey: [],
    apiKey: [],
    token: [],
    user: [],
    verification: [],
    keysCursor: [],
    logsCursor: [],
    auditCursor: [],
    usersCursor: [],
  };
  creds!: Credentials;
  readonly h: Harness;

  constructor(h: Harness) {
    this.h = h;
  }

  async setUp(): Promise<void> {
    const { services } = this.h;
    const db = services.store.db;
    const users: Credentials['users'] = [];
    const sessions = {} as Credentials['sessions'];
    for (const [who, role, plan] of [
      ['a', 'user', 'enterprise'],
      ['b', 'user', 'free'],
      ['admin', 'admin', 'enterprise'],
    ] as const) {
      const email = uniqueEmail(`fuzz-${who}`);
      const user = await services.accounts.createUser(CLI_ACTOR, {
        email,
        password: FIXTURE_PASSWORD,
        role,
        plan,
      });
      const row = await db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      users.push({ id: user.id, email, role, plan, passwordHash: row.password_hash });
      sessions[who] = { userId: user.id, ...(await this.newSession(user.id)) };
      this.pools.user.push(user.id);
    }
    const tokens: Credentials['tokens'] = {};
    for (const [name, scopes] of Object.entries(TOKEN_SCOPES)) {
      const owner = name.startsWith('service:') ? sessions.admin.userId : sessions.a.userId;
      tokens[name] = { secret: await this.mintToken(owner, scopes), ownerId: owner };
    }
    this.creds = { sessions, tokens, users };
    for (const body of [
      { name: 'plain' },
      { name: 'credits', credits: { remaining: 5, refill: { amount: 5, interval: 'daily' } } },
      { name: 'usage billing', billing: 'usage', credits: { remaining: 1000 } },
      { name: 'allowlist', ip_allowlist: ['10.0.0.0/8', '::1'], permissions: ['documents:read'] },
      { name: 'limited', limits: { rate: [{ limit: 3, window: '1m' }], daily: { requests: 10 } } },
      { name: 'test env', environment: 'test', metadata: { team: 'fuzz' } },
    ]) {
      await this.createKey('a', body);
    }
    await this.createKey('b', { name: 'foreign' });
    await this.createKey('b', { name: 'foreign 2' });
  }

  private async newSession(userId: string) {
    const s = await this.h.services.sessions.create(
      this.h.services.store.db,
      userId,
      '127.0.0.1',
      'fuzz',
    );
    return { cookie: `keyward_session=${s.sessionId}`, csrf: s.csrfToken, sessionId: s.sessionId };
  }

  private async mintToken(ownerId: string, scopes: Scope[]): Promise<string> {
    const { token, secret } = await this.h.services.tokens.create(CLI_ACTOR, {
      name: 'fuzz',
      scopes,
      ownerId,
    });
    this.pools.token.push(token.id);
    return secret;
  }

  async createKey(who: 'a' | 'b', body: Record<string, unknown>): Promise<void> {
    const s = this.creds.sessions[who];
    const response = await this.h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
      payload: body,
    });
    if (response.statusCode !== 201)
      throw new Error(`fixture key: ${response.statusCode} ${response.body}`);
    const json = response.json() as { id: string; key: string };
    this.add(who === 'a' ? 'ownKey' : 'foreignKey', json.id);
    this.add('apiKey', json.key);
  }

  add(pool: Pool, value: string): void {
    const list = this.pools[pool];
    if (list.includes(value)) return;
    if (list.length >= POOL_CAP) list.splice(list.length >>> 1, 1);
    list.push(value);
  }

  forget(id: string): void {
    for (const list of Object.values(this.pools)) {
      const at = list.indexOf(id);
      if (at >= 0) list.splice(at, 1);
    }
  }

  /** Picks pool entry `i`; recent entries (the end of the list) twice as often as old ones. */
  pick(pool: string, i: number): string {
    if (pool === 'email') return this.creds.users[0]?.email ?? 'nobody@example.com';
    const list = this.pools[pool as Pool] ?? [];
    if (list.length === 0) return `${pool}_none`;
    return i % 2 === 0
      ? (list[list.length - 1 - ((i >>> 1) % Math.min(list.length, 4))] as string)
      : (list[i % list.length] as string);
  }

  resolve(text: string): string {
    return text.includes('~~')
      ? text.replace(POOL_REF, (_, pool: string, i: string) => this.pick(pool, Number(i)))
      : text;
  }

  /** Learns the ids, keys and cursors an answer hands out, so later requests can use them. */
  harvest(value: unknown, path: string, actorOwnsA: boolean, depth = 0): void {
    if (depth > 4 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const v of value.slice(0, 20)) this.harvest(v, path, actorOwnsA, depth + 1);
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string') {
        if (/^key_[a-z2-7]{24}$/.test(v)) this.add(actorOwnsA ? 'ownKey' : 'foreignKey', v);
        else if (/^tok_[a-z2-7]{24}$/.test(v)) this.add('token', v);
        else if (/^usr_[a-z2-7]{24}$/.test(v)) this.add('user', v);
        else if (/^ver_[a-z2-7]{24}$/.test(v)) this.add('verification', v);
        else if (k === 'key' && /^sk_(live|test)_[0-9a-f]{40}$/.test(v)) this.add('apiKey', v);
      }
      if (k === 'next_cursor' && v !== null) this.add(cursorPool(path), String(v));
      if (typeof v === 'object') this.harvest(v, path, actorOwnsA, depth + 1);
    }
  }

  /**
   * Undoes what the fuzzer did to its own credentials (logout, password change, account disabled,
   * token deleted), so that later requests still get past authentication.
   */
  async heal(): Promise<void> {
    const { services } = this.h;
    const db = services.store.db;
    for (const u of this.creds.users) {
      let row = await db
        .selectFrom('users')
        .select(['disabled', 'plan', 'password_hash'])
        .where('id', '=', u.id)
        .executeTakeFirst();
      if (row === undefined) {
        // The fuzzer deleted the account (DELETE /v1/admin/users/{id}): it comes back as it was.
        const now = Date.now();
        await db
          .insertInto('users')
          .values({
            id: u.id,
            email: u.email,
            password_hash: u.passwordHash,
            role: u.role,
            plan: u.plan,
            disabled: 0,
            created_at: now,
            updated_at: now,
          })
          .execute();
        row = { disabled: 0, plan: u.plan, password_hash: u.passwordHash };
      }
      if (row.disabled || row.plan !== u.plan)
        await services.accounts.update(CLI_ACTOR, u.id, { disabled: false, plan: u.plan });
      if (row.password_hash !== u.passwordHash)
        await db
          .updateTable('users')
          .set({ password_hash: u.passwordHash })
          .where('id', '=', u.id)
          .execute();
    }
    for (const s of Object.values(this.creds.sessions)) {
      if ((await services.sessions.authenticate(s.sessionId)) === null)
        Object.assign(s, await this.newSession(s.userId));
    }
    for (const [name, t] of Object.entries(this.creds.tokens)) {
      const result = await services.tokens.authenticate(t.secret);
      if (!result.ok) t.secret = await this.mintToken(t.ownerId, TOKEN_SCOPES[name] as Scope[]);
    }
  }

  headersFor(actor: ActorName, method: string, apiKeyIndex: number): Record<string, string> {
    const write = method !== 'GET' && method !== 'HEAD';
    const session = (who: 'a' | 'b' | 'admin', csrf = true, origin?: string) => {
      const s = this.creds.sessions[who];
      return {
        cookie: s.cookie,
        ...(write && csrf && { 'x-csrf-token': s.csrf }),
        ...(origin !== undefined && { origin }),
      };
    };
    switch (actor) {
      case 'none':
        return {};
      case 'session:a':
        return session('a');
      case 'session:a-no-csrf':
        return session('a', false);
      case 'session:a-foreign-origin':
        return session('a', true, 'https://evil.example');
      case 'session:b':
        return session('b');
      case 'session:admin':
        return session('admin');
      case 'apikey:bearer':
        return { authorization: `Bearer ${this.pick('apiKey', apiKeyIndex)}` };
      case 'apikey:x-api-key':
        return { 'x-api-key': this.pick('apiKey', apiKeyIndex) };
      default:
        return { authorization: `Bearer ${this.creds.tokens[actor]?.secret ?? ''}` };
    }
  }
}

/** Routes whose success may end one of the fixture's credentials. */
