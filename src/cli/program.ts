import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Config, SettingName } from '../config.ts';
import { type Environment, maskKey } from '../core/api-key.ts';
import { quotedVisibly } from '../core/email.ts';
import { AppError } from '../core/errors.ts';
import { EXPIRATION_PRESETS, type ExpirationPreset } from '../core/expiration.ts';
import { ALL_SCOPES, type Scope } from '../core/token.ts';
import { parseRoutesFile } from '../gateway/routes-file.ts';
import { pingRedis } from '../limits/redis-client.ts';
import { createLogger } from '../logger.ts';
import { startServer } from '../server.ts';
import { CLI_ACTOR } from '../services/actor.ts';
import { createServices, type Services } from '../services/index.ts';
import { openStore } from '../storage/database.ts';
import {
  findLookalikeAccounts,
  type LookalikeGroup,
  migrateToLatest,
  pendingMigrations,
} from '../storage/migrations.ts';
import { buildCommit, VERSION } from '../version.ts';
import { registerImportCommands } from './import.ts';
import type { Output } from './output.ts';

export interface CliContext {
  /**
   * Loads and checks the configuration; throws ConfigError listing every problem. `overrides`
   * (command-line flags) take precedence over the environment.
   */
  loadConfig(overrides?: Partial<Record<SettingName, string>>): Config;
  output: Output;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); for `serve`. */
  untilSignal(): Promise<string>;
}

function parseScopes(text: string): Scope[] {
  const scopes = text.split(',').map((s) => s.trim());
  for (const scope of scopes) {
    if (!(ALL_SCOPES as readonly string[]).includes(scope))
      throw new InvalidArgumentError(
        `unknown scope "${scope}"; choose from ${ALL_SCOPES.join(', ')}`,
      );
  }
  return scopes as Scope[];
}

/** Look-alike accounts, emails quoted with escapes so invisible characters show. */
function lookalikeLines(groups: LookalikeGroup[]): string[] {
  return groups.map(
    (group) =>
      `! look-alike accounts for ${group.normalised} (left unchanged): ${group.accounts
        .map((a) => `${a.id} ${quotedVisibly(a.email)}`)
        .join(', ')}`,
  );
}

/** Opens the database with migrations applied, runs `fn` with the services, and closes again. */
async function withServices<T>(config: Config, fn: (services: Services) => Promise<T>): Promise<T> {
  const store = openStore(config.database);
  try {
    await migrateToLatest(store.db, store.dialect);
    const services = createServices(config, store);
    try {
      return await fn(services);
    } finally {
      await services.stop();
    }
  } finally {
    await store.close();
  }
}

async function userIdFor(services: Services, email: string): Promise<string> {
  const user = await services.accounts.findByEmail(email);
  if (user === undefined) throw new Error(`no account with the email ${email}`);
  return user.id;
}

export function buildProgram(ctx: CliContext): Command {
  const { output } = ctx;
  const program = new Command('keyward')
    .description(
      'Keyward: self-hosted API key management. Settings come from the environment; see docs/CONFIGURATION.md.',
    )
    .version(
      `keyward ${VERSION}${buildCommit() === null ? '' : ` (${buildCommit()?.slice(0, 12)})`}`,
      '-V, --version',
      'print the release and commit',
    )
    .showHelpAfterError()
    .configureOutput({
      writeOut: (s) => output.out(s.trimEnd()),
      writeErr: (s) => output.err(s.trimEnd()),
    })
    .exitOverride();

  program
    .command('serve')
    .description(
      'Apply migrations and serve the API, /docs and the health checks (PORT, HOST, DATABASE_URL …)',
    )
    .option(
      '--upstream <url>',
      'gateway mode: the API to put Keyward in front of (GATEWAY_UPSTREAM)',
    )
    .option(
      '--routes <file>',
      'gateway mode: the routes file (GATEWAY_ROUTES); see docs/GATEWAY.md',
    )
    .action(async (options: { upstream?: string; routes?: string }) => {
      const config = ctx.loadConfig({
        ...(options.upstream !== undefined && { GATEWAY_UPSTREAM: options.upstream }),
        ...(options.routes !== undefined && { GATEWAY_ROUTES: options.routes }),
      });
      const logger = createLogger(config.logLevel);
      const server = await startServer(config, logger).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EADDRINUSE') throw error;
        throw new Error(
          `${error.message}: another process is using port ${config.port}; stop it, or choose another port with PORT=… (and the interface with HOST=…)`,
        );
      });
      // With PORT=0 the system picks the port: show the one bound, not 0.
      const publicUrl = new URL(config.publicUrl);
      if (publicUrl.port === '0') publicUrl.port = new URL(server.address).port;
      const shownUrl = publicUrl.toString().replace(/\/$/, '');
      output.out(
        `Keyward is listening on ${server.address} (database: ${config.database.kind}); dashboard at ${shownUrl}/, API docs at ${shownUrl}/docs`,
      );
      if (server.gateway !== null && config.gateway !== null) {
        output.out(
          `Gateway listening on ${server.gateway.address}, forwarding to ${config.gateway.upstream} by ${config.gateway.routes.length} rule${config.gateway.routes.length === 1 ? '' : 's'} from ${config.gateway.routesFile}`,
        );
      }
      if (!(await server.services.accounts.hasAnyUser())) {
        output.out('No account exists yet. Create the first admin with:');
        output.out(
          '  npx keyward user create --email you@example.com --password "<a long password>" --admin',
        );
        output.out(
          `or sign up with: curl -X POST ${shownUrl}/v1/auth/signup -H 'content-type: application/json' -d '{"email":"…","password":"…"}'`,
        );
      }
      const signal = await ctx.untilSignal();
      output.out(
        `${signal} received: finishing requests and flushing usage (at most ${config.http.shutdownTimeoutMs / 1000} s)`,
      );
      // Ctrl-C at a terminal: no load balancer to wait for.
      const outcome = await server.shutdown((line) => output.out(line), {
        drain: signal !== 'SIGINT',
      });
      if (!outcome.clean) {
        throw new AppError(
          'service_unavailable',
          `could not finish shutting down within ${config.http.shutdownTimeoutMs / 1000} s: ${outcome.unfinished.join('; ')}`,
        );
      }
      output.out('stopped');
    });

  program
    .command('migrate')
    .description('Apply pending database migrations and exit')
    .action(async () => {
      const config = ctx.loadConfig();
      const store = openStore(config.database);
      try {
        const report = await migrateToLatest(store.db, store.dialect);
        output.out(
          report.applied.length === 0
            ? 'database is up to date'
            : `applied: ${report.applied.join(', ')}`,
        );
        for (const line of lookalikeLines(report.lookalikes)) output.out(line);
      } finally {
        await store.close();
      }
    });

  const user = program.command('user').description('Manage accounts');
  user
    .command('create')
    .description('Create an account (use --admin for an operator account)')
    .requiredOption('--email <email>', 'email address to sign in with')
    .requiredOption('--password <password>', 'password, at least 8 characters')
    .option('--admin', 'give the account the admin role', false)
    .option('--plan <plan>', 'plan name (default: DEFAULT_PLAN)')
    .action(async (options: { email: string; password: string; admin: boolean; plan?: string }) => {
      await withServices(ctx.loadConfig(), async (services) => {
        const created = await services.accounts.createUser(CLI_ACTOR, {
          email: options.email,
          password: options.password,
          role: options.admin ? 'admin' : 'user',
          ...(options.plan !== undefined && { plan: options.plan }),
        });
        output.out(
          `created ${created.role} ${created.email} (${created.id}) on plan ${created.plan}`,
        );
      });
    });
  user
    .command('set-plan')
    .description("Change an account's plan")
    .requiredOption('--email <email>', 'the account')
    .requiredOption('--plan <plan>', 'the new plan')
    .action(async (options: { email: string; plan: string }) => {
      await withServices(ctx.loadConfig(), async (services) => {
        const updated = await services.accounts.update(
          CLI_ACTOR,
          await userIdFor(services, options.email),
          { plan: options.plan },
        );
        output.out(`${updated.email} is now on plan ${updated.plan}`);
      });
    });

  const token = program.command('token').description('Management and service tokens');
  token
    .command('create')
    .description(
      'Create a token for an account and print its secret once (service scopes need an admin account)',
    )
    .requiredOption('--email <email>', 'the owning account')
    .requiredOption('--name <name>', 'a name to recognise the token by')
    .requiredOption('--scopes <list>', `comma-separated: ${ALL_SCOPES.join(', ')}`, parseScopes)
    .option(
      '--expires-in <duration>',
      'lifetime: 30d, 90d, 6m (six months, as for keys), 1y, never, or hours/days/weeks such as 12h (default: no expiry)',
    )
    .action(
      async (options: { email: string; name: string; scopes: Scope[]; expiresIn?: string }) => {
        await withServices(ctx.loadConfig(), async (services) => {
          const created = await services.tokens.create(CLI_ACTOR, {
            name: options.name,
            scopes: options.scopes,
            ownerId: await userIdFor(services, options.email),
            ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
          });
          output.out(
            `created ${created.token.kind} token ${created.token.id} with scopes ${created.token.scopes.join(', ')}, ${created.token.expiresAt === null ? 'never expires' : `expires ${new Date(created.token.expiresAt).toISOString()}`}`,
          );
          output.out('Secret (shown once, store it now):');
          output.out(created.secret);
        });
      },
    );

  const keys = program.command('keys').description('API keys');
  keys
    .command('list')
    .description('List API keys (all owners, or one with --email)')
    .option('--email <email>', 'only this account')
    .addOption(
      new Option('--status <status>', 'only keys with this status').choices([
        'active',
        'revoked',
        'expired',
        'disabled',
      ]),
    )
    .option('--environment <env>', 'only keys of this environment (one of ENVIRONMENTS)')
    .option('--limit <n>', 'how many (max 100)', (v) => Number.parseInt(v, 10), 50)
    .action(
      async (options: {
        email?: string;
        status?: 'active' | 'revoked' | 'expired' | 'disabled';
        environment?: string;
        limit: number;
      }) => {
        await withServices(ctx.loadConfig(), async (services) => {
          const ownerId =
            options.email === undefined ? undefined : await userIdFor(services, options.email);
          const page = await services.keys.list(CLI_ACTOR, {
            limit: options.limit,
            ...(ownerId !== undefined && { ownerId }),
            ...(options.status !== undefined && { status: options.status }),
            ...(options.environment !== undefined && { environment: options.environment }),
          });
          const now = services.clock.now();
          if (page.keys.length === 0) output.out('no keys');
          for (const k of page.keys) {
            const status =
              k.revokedAt !== null
                ? 'revoked'
                : k.expiresAt !== null && k.expiresAt <= now
                  ? 'expired'
                  : k.enabled
                    ? 'active'
                    : 'disabled';
            output.out(
              [k.id, maskKey(k.start, k.last4), status, k.environment, k.name, k.ownerId].join(
                '\t',
              ),
            );
          }
        });
      },
    );
  keys
    .command('create')
    .description('Create an API key for an account and print its secret once')
    .requiredOption('--email <email>', 'the owning account')
    .requiredOption('--name <name>', 'a name for the key')
    .option('--environment <env>', 'one of ENVIRONMENTS (default: the first, live)')
    .addOption(
      new Option('--expiration <preset>', 'lifetime')
        .choices([...EXPIRATION_PRESETS])
        .default('never'),
    )
    .action(
      async (options: {
        email: string;
        name: string;
        environment?: Environment;
        expiration: ExpirationPreset;
      }) => {
        await withServices(ctx.loadConfig(), async (services) => {
          const created = await services.keys.create(CLI_ACTOR, {
            name: options.name,
            ...(options.environment !== undefined && { environment: options.environment }),
            expiration: options.expiration,
            ownerId: await userIdFor(services, options.email),
          });
          output.out(
            `created key ${created.key.id} (${maskKey(created.key.start, created.key.last4)})`,
          );
          output.out('Secret (shown once, store it now):');
          output.out(created.secret);
        });
      },
    );
  keys
    .command('revoke')
    .description('Revoke an API key at once (irreversible)')
    .argument('<id>', 'the key id (key_…)')
    .action(async (id: string) => {
      await withServices(ctx.loadConfig(), async (services) => {
        const revoked = await services.keys.revoke(CLI_ACTOR, id);
        output.out(`revoked ${revoked.id} (${maskKey(revoked.start, revoked.last4)})`);
      });
    });

  registerImportCommands(program, keys, ctx, withServices);

  program
    .command('doctor')
    .description('Check the configuration, the database (and migrations) and Redis')
    .action(async () => {
      let config: Config;
      try {
        config = ctx.loadConfig();
      } catch (error) {
        output.out(`✗ configuration: ${(error as Error).message}`);
        throw new DoctorFailed();
      }
      output.out(
        `✓ configuration (database: ${config.database.kind}, key prefix: ${config.keyPrefix})`,
      );
      let failed = false;
      const store = openStore(config.database);
      try {
        await store.ping();
        const pending = await pendingMigrations(store.db, store.dialect);
        output.out(
          pending.length === 0
            ? '✓ database reachable, migrations applied'
            : `! database reachable; pending migrations: ${pending.join(', ')} (run: keyward migrate)`,
        );
        for (const line of lookalikeLines(await findLookalikeAccounts(store.db))) output.out(line);
      } catch (error) {
        failed = true;
        output.out(`✗ database: ${(error as Error).message}`);
      } finally {
        await store.close().catch(() => {});
      }
      if (config.redisUrl === null) {
        output.out('- Redis not configured (REDIS_URL unset): single-node mode');
      } else {
        try {
          const ms = await pingRedis(config.redisUrl);
          output.out(`✓ Redis reachable (PING ${ms.toFixed(1)} ms): limits shared by every node`);
        } catch (error) {
          failed = true;
          output.out(`✗ Redis: ${(error as Error).message}`);
        }
      }
      if (failed) throw new DoctorFailed();
    });

  program
    .command('gateway')
    .description('Gateway mode tools (docs/GATEWAY.md)')
    .command('check')
    .description('Check a gateway routes file: prints OK, or every problem with its JSON path')
    .argument('<file>', 'the routes file, e.g. routes.json')
    .action((file: string) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        output.err(`${file}: could not be read: ${(error as Error).message}`);
        throw new CommanderError(1, 'keyward.gatewayCheck', 'routes file not readable');
      }
      const result = parseRoutesFile(text);
      if (!result.ok) {
        for (const problem of result.problems) output.err(`${file}: ${problem}`);
        output.err(
          `${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`,
        );
        throw new CommanderError(1, 'keyward.gatewayCheck', 'routes file has problems');
      }
      output.out(
        `OK: ${file} has ${result.routes.length} rule${result.routes.length === 1 ? '' : 's'}`,
      );
      for (const route of result.routes) {
        const methods = route.methods === null ? '*' : [...route.methods].join(',');
        const needs = route.public
          ? 'public (no key)'
          : [
              'key',
              ...(route.permission === undefined ? [] : [`permission ${route.permission}`]),
              ...(route.resource === undefined
                ? []
                : [
                    `resource ${route.resource.from === 'fixed' ? route.resource.value : route.resource.from === 'body' ? `body.${route.resource.field}` : `${route.resource.from} ${route.resource.name}`}`,
                  ]),
              route.cost.from === 'fixed'
                ? `cost ${route.cost.value}`
                : `cost from response header ${route.cost.name} (estimate ${route.cost.estimate})`,
            ].join(', ');
        output.out(`  ${methods} ${route.path} -> ${needs}`);
      }
    });

  return program;
}

/** doctor found a problem: the process exits 1 after printing its report. */
export class DoctorFailed extends Error {
  constructor() {
    super('doctor found problems');
    this.name = 'DoctorFailed';
  }
}
