// What can be checked of deploy/ without Docker, systemd or a certificate: the files parse, say
// what docs/DEPLOYMENT.md says they do, agree with each other and with the production install
// (scripts/install-prod.sh, npm run start:prod), and their settings pass Keyward's own
// configuration check. The HEALTHCHECK command is run against a real server.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { freePort, Node } from '../helpers/cluster.ts';
import { DATABASES, type TestDatabase } from '../helpers/databases.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions (continuation lines joined, comments dropped), split into stages. */
function dockerStages(text: string): Instruction[][] {
  const joined = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const stages: Instruction[][] = [];
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const instruction = { op: match[1] as string, args: (match[2] as string).trim() };
    if (instruction.op === 'FROM') stages.push([]);
    const stage = stages[stages.length - 1];
    if (stage === undefined) {
      if (instruction.op !== 'ARG') throw new Error(`${instruction.op} before the first FROM`);
      continue;
    }
    stage.push(instruction);
  }
  return stages;
}

const only = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op);

/** The command of a `CMD`/`ENTRYPOINT`/`HEALTHCHECK … CMD` in exec (JSON array) form. */
function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  return JSON.parse(json) as string[];
}

/** `KEY=VALUE` lines (systemd EnvironmentFile), comments and blank lines skipped. */
function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match !== null) env[match[1] as string] = match[2] as string;
  }
  return env;
}

/** A systemd unit's keys per section; repeated keys keep every value. */
function unitFile(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section !== null) {
      current = {};
      sections[section[1] as string] = current;
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq);
    const values = current[key] ?? [];
    values.push(line.slice(eq + 1));
    current[key] = values;
  }
  return sections;
}

/** The `.../src/main.ts serve …` part of a command line, and the node flags before it. */
function nodeCommand(words: string[]): { flags: string[]; rest: string[] } {
  const main = words.findIndex((w) => w.endsWith('src/main.ts'));
  expect(main, words.join(' ')).toBeGreaterThan(0);
  return { flags: words.slice(1, main), rest: words.slice(main + 1) };
}

const startProd = pkg.scripts['start:prod']?.split(' ') ?? [];

describe('deploy/Dockerfile', () => {
  const stages = dockerStages(read('deploy/Dockerfile'));
  const final = stages[stages.length - 1] as Instruction[];

  it('builds in a stage of its own with scripts/install-prod.sh, the script CI runs', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const defaultImage = /^ARG NODE_IMAGE=(\S+)$/m.exec(read('deploy/Dockerfile'))?.[1];
    expect(defaultImage).toMatch(/^node:24(\.[\d.]+)?-(bookworm-|trixie-)?slim$/);
    for (const stage of stages) expect(stage[0]?.args).toMatch(/^\$\{NODE_IMAGE\}/);
    const build = stages[0] as Instruction[];
    expect(build[0]?.args).toMatch(/ AS build$/);
    const runs = only(build, 'RUN').map((i) => i.args);
    expect(runs).toContain('npm ci --no-audit --no-fund');
    expect(runs.some((r) => / sh scripts\/install-prod\.sh \/app$/.test(r))).toBe(true);
    expect(runs.some((r) => r.startsWith(`REVISION="\${REVISION}"`))).toBe(true);
    // The same script is what the production-install test runs.
    expect(read('test/deploy/production-install.test.ts')).toContain("'install-prod.sh'");
    // The final stage copies the installed app and nothing else from the build.
    expect(only(final, 'COPY').map((i) => i.args)).toEqual(['--from=build /app /app']);
    expect(only(final, 'RUN').join(' ')).not.toMatch(/npm (ci|install)/);
  });

  it('runs as a non-root user, with the data directory as a volume it owns', () => {
    const users = only(final, 'USER');
    expect(users).toHaveLength(1);
    const user = (users[0] as Instruction).args.split(':')[0] as string;
    expect(['root', '0']).not.toContain(user);
    const create = only(final, 'RUN')
      .map((i) => i.args)
      .join(' ');
    const uid = new RegExp(`useradd [^&]*--uid (\\d+)[^&]* ${user}\\b`).exec(create)?.[1];
    expect(Number(uid)).toBeGreaterThan(999);
    // USER comes before the command, after the last RUN (nothing after it runs as root).
    const index = (i: Instruction) => final.indexOf(i);
    expect(index(users[0] as Instruction)).toBeGreaterThan(
      Math.max(...only(final, 'RUN').map(index)),
    );
    const env = only(final, 'ENV')
      .map((i) => i.args)
      .join(' ');
    const database = /DATABASE_URL=sqlite:(\S+)/.exec(env)?.[1] as string;
    const volume = execForm(only(final, 'VOLUME')[0]?.args ?? '[]');
    expect(volume).toEqual([dirname(database)]);
    expect(create).toContain(`chown ${user}:${user} ${dirname(database)}`);
    expect(env).toMatch(/HOST=0\.0\.0\.0/);
  });

  it('starts the way npm run start:prod does, and passes the configuration check', () => {
    const entrypoint = execForm(only(final, 'ENTRYPOINT')[0]?.args ?? '[]');
    const cmd = execForm(only(final, 'CMD')[0]?.args ?? '[]');
    expect([...entrypoint, ...cmd].join(' ')).toBe(startProd.join(' '));
    const env: Record<string, string> = {};
    for (const i of only(final, 'ENV'))
      for (const [, name, value] of i.args.matchAll(/([A-Z_]+)=(\S+)/g))
        env[name as string] = value as string;
    expect(() => loadConfig(env)).not.toThrow();
  });

  describe('HEALTHCHECK', () => {
    const healthcheck = only(final, 'HEALTHCHECK')[0]?.args ?? '';
    const command = execForm(healthcheck.slice(healthcheck.indexOf(' CMD ') + 1));
    const sqlite = DATABASES.find((d) => d.name === 'sqlite');
    let database: TestDatabase;
    let node: Node;
    beforeAll(async () => {
      if (sqlite === undefined) throw new Error('SQLite is always available');
      database = await sqlite.create();
      node = await Node.start({ DATABASE_URL: database.config.url });
    });
    afterAll(async () => {
      await node?.stop();
      await database?.drop();
    });

    const probe = (port: string) =>
      spawnSync(process.execPath, command.slice(1), {
        env: { PATH: process.env.PATH ?? '', PORT: port },
        encoding: 'utf8',
        timeout: 10_000,
      }).status;

    it('is node (no curl in the slim image) asking /readyz, within a timeout', () => {
      expect(command[0]).toBe('node');
      expect(command.join(' ')).toContain('/readyz');
      expect(healthcheck).toMatch(/--timeout=\d+s/);
    });

    it('passes against a ready server on PORT and fails when nothing answers', async () => {
      expect(probe(new URL(node.url).port)).toBe(0);
      expect(probe(String(await freePort()))).toBe(1);
    });
  });
});

describe('.dockerignore', () => {
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('keeps local state out of the build context and everything the build needs in it', () => {
    for (const path of ['.git', 'node_modules', 'data', 'dashboard/dist', '*.db', 'REVISION'])
      expect(ignored).toContain(path);
    for (const needed of [
      'package.json',
      'package-lock.json',
      'scripts',
      'scripts/install-prod.sh',
      'src',
      'bin',
      'dashboard',
      'dashboard/src',
    ]) {
      expect(ignored).not.toContain(needed);
      expect(existsSync(join(ROOT, needed)), needed).toBe(true);
    }
  });
});

describe('deploy/docker-compose.yml', () => {
  const compose = parse(read('deploy/docker-compose.yml'), { merge: true }) as {
    services: Record<string, Record<string, unknown>>;
    networks: Record<string, { ipam?: { config?: { subnet: string }[] } }>;
  };
  const services = compose.services;
  const keywardNodes = Object.entries(services).filter(
    ([, s]) =>
      (s.build as { dockerfile?: string } | undefined)?.dockerfile === 'deploy/Dockerfile' &&
      s.command === undefined,
  );
  /** The environment with ${VAR:?…} and ${VAR:-default} filled as an operator's shell would. */
  const substitute = (value: string) =>
    value
      .replace(/\$\{KEYWARD_DOMAIN[^}]*\}/g, 'keys.example.com')
      .replace(/\$\{POSTGRES_PASSWORD[^}]*\}/g, 'secret')
      .replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

  it('has two Keyward nodes, PostgreSQL, Redis, Caddy and a one-shot migrate', () => {
    expect(keywardNodes.map(([name]) => name)).toEqual(['keyward-1', 'keyward-2']);
    for (const name of ['postgres', 'redis', 'caddy', 'migrate'])
      expect(services[name], name).toBeDefined();
    expect(services.migrate?.command).toEqual(['migrate']);
    expect(services.migrate?.restart).toBe('no');
  });

  it('configures each node for PostgreSQL, Redis and Caddy, and the settings pass the check', () => {
    const caddyNetworks = (services.caddy?.networks ?? {}) as Record<
      string,
      { ipv4_address: string }
    >;
    const caddyAddress = caddyNetworks.backend?.ipv4_address;
    const subnet = compose.networks.backend?.ipam?.config?.[0]?.subnet ?? '';
    expect(caddyAddress?.startsWith(subnet.split('.').slice(0, 3).join('.'))).toBe(true);
    for (const [name, node] of keywardNodes) {
      const env = Object.fromEntries(
        Object.entries(node.environment as Record<string, string>).map(([k, v]) => [
          k,
          substitute(String(v)),
        ]),
      );
      const config = loadConfig(env);
      expect(config.database, name).toMatchObject({ kind: 'postgres' });
      expect(new URL(env.DATABASE_URL as string).hostname).toBe('postgres');
      expect(new URL(env.REDIS_URL as string).hostname).toBe('redis');
      expect(env.PUBLIC_URL).toBe('https://keys.example.com');
      expect(env.TRUSTED_PROXIES).toBe(caddyAddress);
      expect(config.host).toBe('0.0.0.0');
      // Read-only root filesystem, no published port (only Caddy's), time to drain on stop.
      expect(node.read_only).toBe(true);
      expect(node.tmpfs).toEqual(['/tmp']);
      expect(node.ports).toBeUndefined();
      expect(node.cap_drop).toEqual(['ALL']);
      const grace = Number(/^(\d+)s$/.exec(String(node.stop_grace_period))?.[1]);
      expect(grace * 1000).toBeGreaterThan(config.http.shutdownTimeoutMs);
      expect(Object.keys(node.depends_on as object).sort()).toEqual([
        'migrate',
        'postgres',
        'redis',
      ]);
    }
  });

  it('Caddy terminates TLS for both nodes and polls /readyz; Redis never evicts', () => {
    expect(services.caddy?.ports).toEqual(['80:80', '443:443', '443:443/udp']);
    expect(services.caddy?.volumes).toContain('./Caddyfile:/etc/caddy/Caddyfile:ro');
    const caddyfile = read('deploy/Caddyfile');
    const upstreams = /reverse_proxy ([^{]+)\{/.exec(caddyfile)?.[1]?.trim().split(/\s+/);
    expect(upstreams).toEqual(keywardNodes.map(([name]) => `${name}:8080`));
    expect(caddyfile).toMatch(/^\{\$KEYWARD_DOMAIN\} \{$/m);
    expect(caddyfile).toMatch(/health_uri \/readyz/);
    const redis = ((services.redis?.command ?? []) as string[]).join(' ');
    expect(redis).toContain('--maxmemory-policy noeviction');
  });
});

describe('deploy/systemd', () => {
  const unit = unitFile(read('deploy/systemd/keyward.service'));
  const service = unit.Service ?? {};
  const one = (key: string) => {
    expect(service[key], key).toHaveLength(1);
    return (service[key] as string[])[0] as string;
  };
  const env = envFile(read('deploy/systemd/keyward.env'));

  it('runs the production install as an unprivileged user, like start:prod', () => {
    expect(['root', '0']).not.toContain(one('User'));
    const words = one('ExecStart').split(/\s+/);
    expect(words[0]).toMatch(/^\/.*\/node$/);
    const command = nodeCommand(words);
    const prod = nodeCommand(startProd);
    expect(command.flags).toEqual(prod.flags);
    expect(command.rest).toEqual(prod.rest);
    expect(one('EnvironmentFile')).toBe('/etc/keyward/keyward.env');
    // The install directory, its main.ts and its shipped docs (package.json "files").
    const dir = one('WorkingDirectory');
    expect(words.find((w) => w.endsWith('src/main.ts'))).toBe(`${dir}/src/main.ts`);
    const docs = unit.Unit?.Documentation?.[0] ?? '';
    expect(docs).toBe(`file://${dir}/docs/DEPLOYMENT.md`);
    expect((JSON.parse(read('package.json')) as { files: string[] }).files).toContain('docs/*.md');
    expect(one('KillSignal')).toBe('SIGTERM');
    const config = loadConfig(env);
    expect(Number(/^(\d+)s$/.exec(one('TimeoutStopSec'))?.[1]) * 1000).toBeGreaterThan(
      config.http.shutdownTimeoutMs,
    );
  });

  it('is hardened, and may write to the data directory only', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      CapabilityBoundingSet: '',
      SystemCallArchitectures: 'native',
    };
    for (const [key, value] of Object.entries(expected)) expect(one(key), key).toBe(value);
    expect(service.SystemCallFilter).toContain('@system-service');
    const config = loadConfig(env);
    if (config.database.kind !== 'sqlite') throw new Error('the example env file uses SQLite');
    const dataDir = dirname(config.database.path);
    expect(one('ReadWritePaths')).toBe(dataDir);
    expect(`/var/lib/${one('StateDirectory')}`).toBe(dataDir);
    // Behind a proxy on the same machine: loopback only, the proxy's headers believed.
    expect(config.host).toBe('127.0.0.1');
    expect(env.TRUSTED_PROXIES).toBe('127.0.0.1,::1');
    expect(config.publicUrl.startsWith('https://')).toBe(true);
  });

  it('its Caddyfile forwards to the address and port the env file sets', () => {
    const config = loadConfig(env);
    const caddyfile = read('deploy/systemd/Caddyfile');
    expect(caddyfile).toContain(`reverse_proxy ${config.host}:${config.port}`);
    expect(caddyfile).toContain(`${new URL(config.publicUrl).hostname} {`);
  });
});

describe('deploy/nginx/keyward.conf', () => {
  const conf = read('deploy/nginx/keyward.conf');

  it('forwards the client address and scheme, and lets Keyward answer too-large bodies', () => {
    for (const header of [
      'X-Forwarded-For $remote_addr',
      'X-Forwarded-Proto $scheme',
      'Host $host',
    ])
      expect(conf).toContain(`proxy_set_header ${header};`);
    const limit = /client_max_body_size (\d+)([km]?);/.exec(conf);
    const bytes =
      Number(limit?.[1]) * (limit?.[2] === 'm' ? 1024 * 1024 : limit?.[2] === 'k' ? 1024 : 1);
    expect(bytes).toBeGreaterThan(loadConfig({}).bodyLimitBytes);
    expect(conf).toMatch(/listen 443 ssl;/);
    expect(conf).toMatch(/proxy_pass http:\/\/keyward;/);
  });
});

describe('deploy/ is documented', () => {
  it('docs/DEPLOYMENT.md names every file in deploy/', () => {
    const doc = read('docs/DEPLOYMENT.md');
    for (const file of [
      'deploy/Dockerfile',
      'deploy/docker-compose.yml',
      'deploy/Caddyfile',
      'deploy/systemd/keyward.service',
      'deploy/systemd/keyward.env',
      'deploy/systemd/Caddyfile',
      'deploy/nginx/keyward.conf',
      '.dockerignore',
    ]) {
      expect(existsSync(join(ROOT, file)), file).toBe(true);
      expect(doc, file).toContain(file);
    }
    expect(existsSync(DEPLOY)).toBe(true);
  });
});
