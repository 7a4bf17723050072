import { join } from 'node:path';
import type { Command } from 'commander';
import { AppError } from '../../core/errors.ts';
import { DEFAULT_DASHBOARD_DIR, dashboardIsBuilt } from '../../http/routes/dashboard.ts';
import { createLogger } from '../../logger.ts';
import { startServer } from '../../server.ts';
import type { CliContext } from '../context.ts';
import { CliError, describeDatabase } from '../shared.ts';

/** `keyward serve`: the API, the dashboard and (with a routes file) the gateway. */
export function registerServe(program: Command, ctx: CliContext): void {
  const { output } = ctx;
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
    .option(
      '--require-dashboard',
      'exit 1 when the built dashboard (dashboard/dist) is missing, instead of serving a "not built" page (production installs: npm run start:prod)',
    )
    .option(
      '--json',
      'print JSON on standard output: serve runs until stopped, so one line {"event": "listening", …} when it listens and one {"event": "stopped"} when it stops (the rest goes to standard error)',
    )
    .action(
      async (options: {
        upstream?: string;
        routes?: string;
        json?: boolean;
        requireDashboard?: boolean;
      }) => {
        if (options.requireDashboard === true && !dashboardIsBuilt())
          throw new CliError(
            'dashboard_missing',
            `the dashboard is not built: ${join(DEFAULT_DASHBOARD_DIR, 'index.html')} is missing. A production install ships it (scripts/install-prod.sh, docs/DEPLOYMENT.md); in a checkout, run npm run build:dashboard, or npm start, which builds it`,
          );
        // With --json, standard output carries only the JSON lines; the rest goes to standard error.
        const say = options.json === true ? output.err : output.out;
        const config = ctx.loadConfig({
          ...(options.upstream !== undefined && { GATEWAY_UPSTREAM: options.upstream }),
          ...(options.routes !== undefined && { GATEWAY_ROUTES: options.routes }),
        });
        // serve may create a new SQLite database (a first start): it says which one it uses.
        output.err(`database: ${describeDatabase(config.database)}`);
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
        const firstAccountNeeded = !(await server.services.accounts.hasAnyUser());
        if (options.json === true) {
          output.out(
            JSON.stringify({
              event: 'listening',
              address: server.address,
              database: config.database.kind,
              dashboard: `${shownUrl}/`,
              docs: `${shownUrl}/docs`,
              gateway:
                server.gateway === null || config.gateway === null
                  ? null
                  : {
                      address: server.gateway.address,
                      upstream: config.gateway.upstream,
                      rules: config.gateway.routes.length,
                    },
              first_account_needed: firstAccountNeeded,
            }),
          );
        }
        say(
          `Keyward is listening on ${server.address} (database: ${config.database.kind}); dashboard at ${shownUrl}/, API docs at ${shownUrl}/docs`,
        );
        if (server.gateway !== null && config.gateway !== null) {
          say(
            `Gateway listening on ${server.gateway.address}, forwarding to ${config.gateway.upstream} by ${config.gateway.routes.length} rule${config.gateway.routes.length === 1 ? '' : 's'} from ${config.gateway.routesFile}`,
          );
        }
        if (firstAccountNeeded) {
          say('No account exists yet. Create the first admin with:');
          say(
            '  npx keyward user create --email you@example.com --password-stdin --admin   (then type the password)',
          );
          // Under SIGNUP=invite or closed the sign-up route refuses: only the CLI makes the first admin.
          if (config.signup === 'open')
            say(
              `or sign up with: curl -X POST ${shownUrl}/v1/auth/signup -H 'content-type: application/json' -d '{"email":"…","password":"…"}'`,
            );
        }
        const signal = await ctx.untilSignal();
        say(
          `${signal} received: finishing requests and flushing usage (at most ${config.http.shutdownTimeoutMs / 1000} s)`,
        );
        // Ctrl-C at a terminal: no load balancer to wait for.
        const outcome = await server.shutdown((line) => say(line), {
          drain: signal !== 'SIGINT',
        });
        if (!outcome.clean) {
          throw new AppError(
            'service_unavailable',
            `could not finish shutting down within ${config.http.shutdownTimeoutMs / 1000} s: ${outcome.unfinished.join('; ')}`,
          );
        }
        if (options.json === true) output.out(JSON.stringify({ event: 'stopped', signal }));
        say('stopped');
      },
    );
}
