import type { Command } from 'commander';
import { AppError } from '../../core/errors.ts';
import type { User } from '../../core/models.ts';
import { accountExportView, userView } from '../../http/presenters.ts';
import { CLI_ACTOR } from '../../services/actor.ts';
import type { Services } from '../../services/index.ts';
import type { CliContext } from '../context.ts';
import {
  CliError,
  commandIo,
  integerOption,
  passwordFrom,
  userByEmail,
  withJson,
  withServices,
} from '../shared.ts';
import { addRecoveryCommands } from './recovery.ts';
import { registerUserSetLimits } from './user-set-limits.ts';

interface Which {
  json?: boolean;
  email?: string;
  id?: string;
}

/** `--email` or `--id`: how every command below names the account. */
function whichAccount(command: Command): Command {
  return withJson(command)
    .option('--email <email>', 'the account, by email')
    .option('--id <id>', 'the account, by id (usr_…)');
}

async function findAccount(services: Services, options: Which): Promise<User> {
  if ((options.email === undefined) === (options.id === undefined))
    throw new CliError('usage_error', 'name the account with --email or with --id (one of them)');
  if (options.email !== undefined) return userByEmail(services, options.email);
  return services.accounts.getUser(options.id as string).catch((error: unknown) => {
    if (error instanceof AppError && error.code === 'not_found')
      throw new CliError('not_found', `no account with the id ${options.id}`);
    throw error;
  });
}

function line(user: User): string {
  return [user.id, user.email, user.role, user.plan, user.disabled ? 'disabled' : 'active'].join(
    '\t',
  );
}

/** `keyward user …`: accounts. */
export function registerUser(program: Command, ctx: CliContext): void {
  const user = program.command('user').description('Manage accounts');
  addRecoveryCommands(user, ctx);
  registerUserSetLimits(user, ctx);

  withJson(user.command('create'))
    .description('Create an account (use --admin for an operator account)')
    .requiredOption('--email <email>', 'email address to sign in with')
    .option(
      '--password <password>',
      'the password (visible in the process list: prefer --password-stdin)',
    )
    .option('--password-stdin', 'read the password from standard input (one line)', false)
    .option('--admin', 'give the account the admin role', false)
    .option('--plan <plan>', 'plan name (default: DEFAULT_PLAN)')
    .action(
      async (options: {
        email: string;
        password?: string;
        passwordStdin: boolean;
        admin: boolean;
        plan?: string;
        json?: boolean;
      }) => {
        const io = commandIo(ctx, options);
        const password = await passwordFrom(ctx, options);
        await withServices(ctx, async (services) => {
          const created = await services.accounts.createUser(CLI_ACTOR, {
            email: options.email,
            password,
            role: options.admin ? 'admin' : 'user',
            ...(options.plan !== undefined && { plan: options.plan }),
          });
          io.result(userView(created), () => [
            `created ${created.role} ${created.email} (${created.id}) on plan ${created.plan}`,
          ]);
        });
      },
    );

  withJson(user.command('list'))
    .description('List accounts, oldest id first (--all follows every page)')
    .option('--limit <n>', 'accounts per page, 1 to 100', integerOption(1, 100), 50)
    .option('--cursor <id>', 'start after this account id (next_cursor of the previous page)')
    .option('--all', 'every account, page after page', false)
    .action(async (options: { limit: number; cursor?: string; all: boolean; json?: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const users: User[] = [];
        let after = options.cursor;
        let next: string | null = null;
        for (;;) {
          const page = await services.accounts.list(options.limit + 1, after);
          const more = page.length > options.limit;
          users.push(...page.slice(0, options.limit));
          next = more ? (users.at(-1)?.id ?? null) : null;
          if (!options.all || next === null) break;
          after = next;
        }
        io.result({ object: 'list', data: users.map(userView), next_cursor: next }, () => [
          ...(users.length === 0 ? ['no accounts'] : users.map(line)),
          ...(next === null ? [] : [`more: keyward user list --cursor ${next}`]),
        ]);
      });
    });

  whichAccount(user.command('show'))
    .description('Show an account with its plan usage and how many keys and tokens it has')
    .action(async (options: Which) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const overview = await services.accounts.overview(
          (await findAccount(services, options)).id,
        );
        const found = overview.user;
        const live = overview.liveKeys;
        const limit = services.accounts.planLimit(found.plan);
        const view = {
          ...userView(found),
          plan_usage: { plan: found.plan, keys_used: live, keys_limit: limit },
          keys: overview.keys,
          tokens: overview.tokens,
        };
        io.result(view, () => [
          `${found.email} (${found.id})`,
          `role: ${found.role}, ${found.disabled ? 'disabled' : 'active'}`,
          `plan: ${found.plan}, ${live} of ${limit ?? 'unlimited'} keys used`,
          `keys: ${overview.keys} (revoked and expired included), tokens: ${overview.tokens}`,
          `created: ${new Date(found.createdAt).toISOString()}`,
        ]);
      });
    });

  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    whichAccount(user.command(name))
      .description(
        disabled
          ? 'Disable an account: its sessions end, and its keys and tokens are refused at once'
          : 'Enable a disabled account again',
      )
      .action(async (options: Which) => {
        const io = commandIo(ctx, options);
        await withServices(ctx, async (services) => {
          const found = await findAccount(services, options);
          const updated = await services.accounts.update(CLI_ACTOR, found.id, { disabled });
          io.result(userView(updated), () => [
            `${updated.email} is ${disabled ? 'disabled: sessions ended, keys and tokens refused' : 'enabled'}`,
          ]);
        });
      });
  }

  whichAccount(user.command('set-admin'))
    .description('Give an account the admin role (--remove takes it away)')
    .option('--remove', 'make the account a regular user again', false)
    .action(async (options: Which & { remove: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const found = await findAccount(services, options);
        const updated = await services.accounts.setRole(
          CLI_ACTOR,
          found.id,
          options.remove ? 'user' : 'admin',
        );
        io.result(userView(updated), () => [
          `${updated.email} is now ${updated.role === 'admin' ? 'an admin' : 'a regular user'}`,
        ]);
      });
    });

  whichAccount(user.command('export'))
    .description(
      "Print an account's data as JSON: account, keys and tokens (no secrets or hashes), daily usage, audit log",
    )
    .action(async (options: Which) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const found = await findAccount(services, options);
        const view = accountExportView(await services.accounts.exportData(found.id));
        // The export is JSON with or without --json.
        io.result(view, () => [JSON.stringify(view, null, 2)]);
      });
    });

  whichAccount(user.command('delete'))
    .description(
      'Delete an account for good: its keys are revoked first, then the account, keys, tokens, sessions and request log are deleted; usage counts and the audit log stay',
    )
    .option('--yes', 'really delete (without it, nothing changes)', false)
    .action(async (options: Which & { yes: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const found = await findAccount(services, options);
        if (!options.yes) {
          throw new CliError(
            'confirmation_required',
            `this deletes ${found.email} (${found.id}) with its keys and tokens and cannot be undone; run again with --yes`,
          );
        }
        const deleted = await services.accounts.deleteAccount(CLI_ACTOR, found.id);
        io.result(
          { deleted: true, user: userView(deleted.user), revoked_keys: deleted.revokedKeys },
          () => [
            `deleted ${deleted.user.email} (${deleted.user.id}); ${deleted.revokedKeys} key${deleted.revokedKeys === 1 ? '' : 's'} revoked first`,
          ],
        );
      });
    });

  withJson(user.command('set-plan'))
    .description("Change an account's plan")
    .requiredOption('--email <email>', 'the account')
    .requiredOption('--plan <plan>', 'the new plan')
    .action(async (options: { email: string; plan: string; json?: boolean }) => {
      const io = commandIo(ctx, options);
      await withServices(ctx, async (services) => {
        const found = await userByEmail(services, options.email);
        const updated = await services.accounts.update(CLI_ACTOR, found.id, { plan: options.plan });
        io.result(userView(updated), () => [`${updated.email} is now on plan ${updated.plan}`]);
      });
    });
}
