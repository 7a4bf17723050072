import type { Command } from 'commander';
import { ALL_SCOPES, type Scope } from '../../core/token.ts';
import { iso, tokenView } from '../../http/presenters.ts';
import { CLI_ACTOR } from '../../services/actor.ts';
import type { CliContext } from '../context.ts';
import { commandIo, parseScopes, userIdFor, withJson, withServices } from '../shared.ts';

/** `keyward token …`: management and service tokens. */
export function registerToken(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('Management and service tokens');

  withJson(token.command('create'))
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
      async (options: {
        email: string;
        name: string;
        scopes: Scope[];
        expiresIn?: string;
        json?: boolean;
      }) => {
        const io = commandIo(ctx, options);
        await withServices(ctx, async (services) => {
          const created = await services.tokens.create(CLI_ACTOR, {
            name: options.name,
            scopes: options.scopes,
            ownerId: await userIdFor(services, options.email),
            ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
          });
          io.result(
            { ...tokenView(created.token), owner_id: created.token.ownerId, token: created.secret },
            () => [
              `created ${created.token.kind} token ${created.token.id} with scopes ${created.token.scopes.join(', ')}, ${created.token.expiresAt === null ? 'never expires' : `expires ${new Date(created.token.expiresAt).toISOString()}`}`,
              'Secret (shown once, store it now):',
              created.secret,
            ],
          );
        });
      },
    );

  withJson(token.command('list'))
    .description("List tokens (every account's, or one with --email), without their secrets")
    .option('--email <email>', 'only this account')
    .action(async (options: { email?: string; json?: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const ownerId =
          options.email === undefined ? undefined : await userIdFor(services, options.email);
        const tokens = await services.tokens.list(CLI_ACTOR, ownerId);
        io.result(
          {
            object: 'list',
            data: tokens.map((t) => ({ ...tokenView(t), owner_id: t.ownerId })),
          },
          () =>
            tokens.length === 0
              ? ['no tokens']
              : tokens.map((t) =>
                  [
                    t.id,
                    tokenView(t).masked,
                    t.kind,
                    t.scopes.join(','),
                    t.name,
                    t.ownerId,
                    t.expiresAt === null ? 'never expires' : `expires ${iso(t.expiresAt)}`,
                    t.lastUsedAt === null ? 'never used' : `last used ${iso(t.lastUsedAt)}`,
                  ].join('\t'),
                ),
        );
      });
    });

  withJson(token.command('revoke'))
    .description('Revoke (delete) a token at once: it stops working on every node')
    .argument('<id>', 'the token id (tok_…)')
    .action(async (id: string, options: { json?: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        await services.tokens.delete(CLI_ACTOR, id);
        io.result({ id, revoked: true }, () => [`revoked ${id}`]);
      });
    });
}
