import type { Command } from 'commander';
import { CLI_ACTOR } from '../../services/actor.ts';
import type { CliContext } from '../context.ts';
import { withServices } from '../shared.ts';

/** `keyward user invite` and `keyward user reset-password`: one-time links printed for the operator. */
export function addRecoveryCommands(user: Command, ctx: CliContext) {
  const { output } = ctx;

  user
    .command('invite')
    .description(
      'Create an invitation and print its one-time link (mailed too when --email is given and mail is configured); not under SIGNUP=closed',
    )
    .option('--email <email>', 'the only email the account may be created with')
    .option('--admin', 'the account gets the admin role', false)
    .option('--plan <plan>', 'plan name (default: DEFAULT_PLAN)')
    .option('--expires-in <duration>', 'how long the link works: 1h to 30d, such as 48h', '7d')
    .option('--json', 'print the invitation as JSON', false)
    .action(
      async (options: {
        email?: string;
        admin: boolean;
        plan?: string;
        expiresIn: string;
        json: boolean;
      }) => {
        await withServices(ctx, async (services) => {
          const created = await services.invitations.create(CLI_ACTOR, {
            role: options.admin ? 'admin' : 'user',
            expiresIn: options.expiresIn,
            ...(options.email !== undefined && { email: options.email }),
            ...(options.plan !== undefined && { plan: options.plan }),
          });
          const { invitation } = created;
          const expiresAt = new Date(invitation.expiresAt).toISOString();
          if (options.json) {
            output.out(
              JSON.stringify({
                id: invitation.id,
                email: invitation.email,
                role: invitation.role,
                plan: invitation.plan,
                expires_at: expiresAt,
                url: created.url,
                mailed: created.mailed,
              }),
            );
            return;
          }
          output.out(
            `created invitation ${invitation.id} for ${invitation.email ?? 'any email'} (${invitation.role}, plan ${invitation.plan}), valid until ${expiresAt}${created.mailed ? `; mailed to ${invitation.email}` : ''}`,
          );
          output.out('Link (works once; shown only now):');
          output.out(created.url);
        });
      },
    );

  user
    .command('reset-password')
    .description(
      "Print a one-time link that sets a new password for the account (valid one hour; using it ends the account's sessions)",
    )
    .requiredOption('--email <email>', 'the account')
    .option('--json', 'print the link as JSON', false)
    .action(async (options: { email: string; json: boolean }) => {
      await withServices(ctx, async (services) => {
        const link = await services.passwordResets.createLink(CLI_ACTOR, options.email);
        const expiresAt = new Date(link.expiresAt).toISOString();
        if (options.json) {
          output.out(
            JSON.stringify({
              user_id: link.user.id,
              email: link.user.email,
              url: link.url,
              expires_at: expiresAt,
            }),
          );
          return;
        }
        output.out(
          `password-reset link for ${link.user.email} (${link.user.id}), valid until ${expiresAt}; it works once and signs the account out everywhere:`,
        );
        output.out(link.url);
      });
    });
}
