import { type Command, Option } from 'commander';
import { ENVIRONMENTS, type Environment, maskKey } from '../../core/api-key.ts';
import { EXPIRATION_PRESETS, type ExpirationPreset } from '../../core/expiration.ts';
import { CLI_ACTOR } from '../../services/actor.ts';
import type { CliContext } from '../context.ts';
import { userIdFor, withServices } from '../shared.ts';

/** `keyward keys …`: API keys of every owner. */
export function registerKeys(program: Command, ctx: CliContext): void {
  const { output } = ctx;
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
    .option('--limit <n>', 'how many (max 100)', (v) => Number.parseInt(v, 10), 50)
    .action(
      async (options: {
        email?: string;
        status?: 'active' | 'revoked' | 'expired' | 'disabled';
        limit: number;
      }) => {
        await withServices(ctx.loadConfig(), async (services) => {
          const ownerId =
            options.email === undefined ? undefined : await userIdFor(services, options.email);
          const page = await services.keys.list(CLI_ACTOR, {
            limit: options.limit,
            ...(ownerId !== undefined && { ownerId }),
            ...(options.status !== undefined && { status: options.status }),
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
            output.out([k.id, maskKey(k.start, k.last4), status, k.name, k.ownerId].join('\t'));
          }
        });
      },
    );
  keys
    .command('create')
    .description('Create an API key for an account and print its secret once')
    .requiredOption('--email <email>', 'the owning account')
    .requiredOption('--name <name>', 'a name for the key')
    .addOption(
      new Option('--environment <env>', 'live or test').choices([...ENVIRONMENTS]).default('live'),
    )
    .addOption(
      new Option('--expiration <preset>', 'lifetime')
        .choices([...EXPIRATION_PRESETS])
        .default('never'),
    )
    .action(
      async (options: {
        email: string;
        name: string;
        environment: Environment;
        expiration: ExpirationPreset;
      }) => {
        await withServices(ctx.loadConfig(), async (services) => {
          const created = await services.keys.create(CLI_ACTOR, {
            name: options.name,
            environment: options.environment,
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
}
