import type { Command } from 'commander';
import { AppError } from '../../core/errors.ts';
import { createLogger } from '../../logger.ts';
import { startServer } from '../../server.ts';
import type { CliContext } from '../context.ts';

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
}
