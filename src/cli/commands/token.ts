import type { Command } from 'commander';
import { ALL_SCOPES, type Scope } from '../../core/token.ts';
import { CLI_ACTOR } from '../../services/actor.ts';
import type { CliContext } from '../context.ts';
import { parseScopes, userIdFor, withServices } from '../shared.ts';

/** `keyward token …`: management and service tokens. */
export function registerToken(program: Command, ctx: CliContext): void {
  const { output } = ctx;
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
}
