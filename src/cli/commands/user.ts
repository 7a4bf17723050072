import type { Command } from 'commander';
import { CLI_ACTOR } from '../../services/actor.ts';
import type { CliContext } from '../context.ts';
import { userIdFor, withServices } from '../shared.ts';

/** `keyward user …`: accounts. */
export function registerUser(program: Command, ctx: CliContext): void {
  const { output } = ctx;
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
}
