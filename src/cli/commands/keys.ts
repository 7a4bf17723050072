import { type Command, Option } from 'commander';
import { type Environment, maskKey } from '../../core/api-key.ts';
import { EXPIRATION_PRESETS, type ExpirationPreset } from '../../core/expiration.ts';
import type { KeyStatus } from '../../core/key-status.ts';
import type { ApiKey } from '../../core/models.ts';
import { iso, keyView } from '../../http/presenters.ts';
import { CLI_ACTOR } from '../../services/actor.ts';
import { MAX_PAGE_SIZE } from '../../services/keys.ts';
import type { CliContext } from '../context.ts';
import { commandIo, integerOption, userIdFor, withJson, withServices } from '../shared.ts';

/** `keyward keys …`: API keys of every owner. */
export function registerKeys(program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('API keys');

  withJson(keys.command('list'))
    .description('List API keys, newest first (all owners, or one with --email)')
    .option('--email <email>', 'only this account')
    .addOption(
      new Option('--status <status>', 'only keys with this status').choices([
        'active',
        'revoked',
        'expired',
        'disabled',
      ]),
    )
    .option('--environment <env>', 'only this environment (one of ENVIRONMENTS)')
    .option('--search <text>', 'only keys whose name contains this')
    .option(
      '--limit <n>',
      `keys per page, 1 to ${MAX_PAGE_SIZE}`,
      integerOption(1, MAX_PAGE_SIZE),
      50,
    )
    .option('--cursor <cursor>', 'continue after a page (its next_cursor)')
    .option('--all', 'every matching key: follows the cursors page after page', false)
    .action(
      async (options: {
        email?: string;
        status?: KeyStatus;
        environment?: Environment;
        search?: string;
        limit: number;
        cursor?: string;
        all: boolean;
        json?: boolean;
      }) => {
        const io = commandIo(ctx, options);
        await withServices(ctx, async (services) => {
          const ownerId =
            options.email === undefined ? undefined : await userIdFor(services, options.email);
          const found: ApiKey[] = [];
          let cursor = options.cursor;
          let next: string | null = null;
          for (;;) {
            const page = await services.keys.list(CLI_ACTOR, {
              limit: options.limit,
              ...(ownerId !== undefined && { ownerId }),
              ...(options.status !== undefined && { status: options.status }),
              ...(options.environment !== undefined && { environment: options.environment }),
              ...(options.search !== undefined && { search: options.search }),
              ...(cursor !== undefined && { cursor }),
            });
            found.push(...page.keys);
            next = page.nextCursor;
            if (!options.all || next === null) break;
            cursor = next;
          }
          const now = services.clock.now();
          const views = found.map((k) => keyView(k, now));
          io.result({ object: 'list', data: views, next_cursor: next }, () => [
            ...(views.length === 0
              ? ['no keys']
              : views.map((k) => [k.id, k.masked, k.status, k.name, k.owner_id].join('\t'))),
            ...(next === null ? [] : [`more: add --cursor ${next} (or --all)`]),
          ]);
        });
      },
    );

  withJson(keys.command('show'))
    .description('Show one API key: status, owner, permissions, limits, expiry, usage')
    .argument('<id>', 'the key id (key_…)')
    .action(async (id: string, options: { json?: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const key = keyView(await services.keys.get(CLI_ACTOR, id), services.clock.now());
        io.result(key, () => [
          `${key.id} ${key.masked} (${key.status})`,
          `name: ${key.name}`,
          `owner: ${key.owner_id}, environment: ${key.environment}`,
          `permissions: ${key.permissions.join(', ')}`,
          `ip allowlist: ${key.ip_allowlist.length === 0 ? 'any address' : key.ip_allowlist.join(', ')}`,
          `limits: ${JSON.stringify(key.limits)}, credits: ${key.credits.remaining ?? 'unlimited'}, billing: ${key.billing}`,
          `created: ${key.created_at}, expires: ${key.expires_at ?? 'never'}`,
          `last used: ${key.last_used_at ?? 'never'}, requests: ${key.usage_count}`,
          ...(key.revoked_at === null ? [] : [`revoked: ${key.revoked_at}`]),
          ...(key.rotated_to === null ? [] : [`rotated to: ${key.rotated_to}`]),
        ]);
      });
    });

  withJson(keys.command('create'))
    .description('Create an API key for an account and print its secret once')
    .requiredOption('--email <email>', 'the owning account')
    .requiredOption('--name <name>', 'a name for the key')
    .option('--environment <env>', 'one of ENVIRONMENTS (default: the first, live)')
    .addOption(
      new Option('--expiration <preset>', 'lifetime (6m is six months)')
        .choices([...EXPIRATION_PRESETS])
        .default('never'),
    )
    .action(
      async (options: {
        email: string;
        name: string;
        environment?: Environment;
        expiration: ExpirationPreset;
        json?: boolean;
      }) => {
        const io = commandIo(ctx, options);
        await withServices(ctx, async (services) => {
          const created = await services.keys.create(CLI_ACTOR, {
            name: options.name,
            ...(options.environment !== undefined && { environment: options.environment }),
            expiration: options.expiration,
            ownerId: await userIdFor(services, options.email),
          });
          io.result({ ...keyView(created.key, services.clock.now()), key: created.secret }, () => [
            `created key ${created.key.id} (${maskKey(created.key.start, created.key.last4)}), ${created.key.expiresAt === null ? 'never expires' : `expires ${iso(created.key.expiresAt)}`}`,
            'Secret (shown once, store it now):',
            created.secret,
          ]);
        });
      },
    );

  withJson(keys.command('revoke'))
    .description('Revoke an API key at once (irreversible)')
    .argument('<id>', 'the key id (key_…)')
    .action(async (id: string, options: { json?: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const revoked = await services.keys.revoke(CLI_ACTOR, id);
        io.result(keyView(revoked, services.clock.now()), () => [
          `revoked ${revoked.id} (${maskKey(revoked.start, revoked.last4)})`,
        ]);
      });
    });
}
