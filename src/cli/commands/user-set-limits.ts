import { type Command, InvalidArgumentError } from 'commander';
import type { Credits, OwnerLimits, User } from '../../core/models.ts';
import { userView } from '../../http/presenters.ts';
import { CLI_ACTOR } from '../../services/actor.ts';
import type { CliContext } from '../context.ts';
import { commandIo, userIdFor, withJson, withServices } from '../shared.ts';

interface SetLimitsOptions {
  email: string;
  rate?: string[];
  dailyRequests?: number;
  dailyAmount?: number;
  monthlyRequests?: number;
  monthlyAmount?: number;
  clearLimits?: boolean;
  credits?: number | 'unlimited';
  refill?: { amount: number; interval: 'daily' | 'monthly' };
  json?: boolean;
}

const MAX_COUNT = 1e12;

function count(text: string): number {
  if (!/^\d{1,13}$/.test(text) || Number(text) > MAX_COUNT)
    throw new InvalidArgumentError('expected a whole number from 0 to 1000000000000');
  return Number(text);
}

function rateRule(text: string, previous: string[] = []): string[] {
  if (!/^[1-9]\d{0,8}\/[1-9]\d{0,5}[smhd]$/.test(text))
    throw new InvalidArgumentError(
      'expected LIMIT/WINDOW such as 100/1m (windows: Ns, Nm, Nh, Nd)',
    );
  if (previous.length >= 5) throw new InvalidArgumentError('at most 5 rate rules');
  return [...previous, text];
}

/** A sentinel, not null: commander stores a parser's null as an empty string. */
function credits(text: string): number | 'unlimited' {
  return text === 'unlimited' ? 'unlimited' : count(text);
}

function refill(text: string): { amount: number; interval: 'daily' | 'monthly' } {
  const match = /^(\d{1,13})\/(daily|monthly)$/.exec(text);
  if (match === null || Number(match[1]) < 1 || Number(match[1]) > MAX_COUNT)
    throw new InvalidArgumentError('expected AMOUNT/daily or AMOUNT/monthly, e.g. 5000/monthly');
  return { amount: Number(match[1]), interval: match[2] as 'daily' | 'monthly' };
}

/** The limits the flags describe, or undefined when no limit flag was given. */
function limitsFrom(options: SetLimitsOptions): OwnerLimits | undefined {
  const period = (requests?: number, amount?: number) =>
    requests === undefined && amount === undefined
      ? undefined
      : {
          ...(requests !== undefined && { requests }),
          ...(amount !== undefined && { amount }),
        };
  const daily = period(options.dailyRequests, options.dailyAmount);
  const monthly = period(options.monthlyRequests, options.monthlyAmount);
  const rate = options.rate?.map((rule) => {
    const [limit, window] = rule.split('/') as [string, string];
    return { limit: Number(limit), window };
  });
  if (rate === undefined && daily === undefined && monthly === undefined)
    return options.clearLimits ? {} : undefined;
  if (options.clearLimits)
    throw new InvalidArgumentError('--clear-limits cannot be combined with limit flags');
  return {
    ...(rate !== undefined && { rate }),
    ...(daily !== undefined && { daily }),
    ...(monthly !== undefined && { monthly }),
  };
}

/** One line saying what an account's balances are now. */
export function describeBalances(user: User): string {
  const { rate, daily, monthly } = user.limits;
  const parts: string[] = [];
  for (const rule of rate ?? []) parts.push(`${rule.limit} per ${rule.window}`);
  for (const [name, quota] of [
    ['day', daily],
    ['month', monthly],
  ] as const) {
    if (quota?.requests !== undefined) parts.push(`${quota.requests} requests/${name}`);
    if (quota?.amount !== undefined) parts.push(`${quota.amount} amount/${name}`);
  }
  const { remaining, refill: refilled } = user.credits;
  const creditText =
    remaining === null
      ? 'unlimited credits'
      : `${remaining} credits${refilled === null ? '' : ` (refilled to ${refilled.amount} ${refilled.interval})`}`;
  return `${user.email}: limits ${parts.length === 0 ? 'none' : parts.join(', ')}; ${creditText}; shared by all its keys`;
}

/**
 * `keyward user set-limits`: an account's own limits and credits (owner balances), shared by all
 * its keys, as `PATCH /v1/admin/users/{id}` sets them.
 */
export function registerUserSetLimits(user: Command, ctx: CliContext): void {
  withJson(user.command('set-limits'))
    .description(
      "Set an account's own limits and credits, shared by all its keys and checked after each key's own. Limit flags replace all the account's limits; --credits replaces its balance.",
    )
    .requiredOption('--email <email>', 'the account')
    .option('--rate <limit/window>', 'a rate rule such as 100/1m; repeat for several', rateRule)
    .option('--daily-requests <n>', 'requests per calendar day', count)
    .option('--daily-amount <n>', 'summed cost per calendar day', count)
    .option('--monthly-requests <n>', 'requests per calendar month', count)
    .option('--monthly-amount <n>', 'summed cost per calendar month', count)
    .option('--clear-limits', 'remove all the account limits')
    .option('--credits <n|unlimited>', 'the credit balance', credits)
    .option('--refill <amount/interval>', 'refill the balance, e.g. 5000/monthly', refill)
    .action(async (options: SetLimitsOptions) => {
      const limits = limitsFrom(options);
      if (options.refill !== undefined && options.credits === undefined)
        throw new InvalidArgumentError('--refill needs --credits');
      const balance: Credits | undefined =
        options.credits === undefined
          ? undefined
          : {
              remaining: options.credits === 'unlimited' ? null : options.credits,
              refill: options.refill ?? null,
            };
      if (limits === undefined && balance === undefined)
        throw new InvalidArgumentError(
          'nothing to set: give limit flags, --clear-limits or --credits',
        );
      await withServices(ctx, async (services) => {
        const updated = await services.accounts.update(
          CLI_ACTOR,
          await userIdFor(services, options.email),
          {
            ...(limits !== undefined && { limits }),
            ...(balance !== undefined && { credits: balance }),
          },
        );
        commandIo(ctx, options).result(userView(updated), () => [describeBalances(updated)]);
      });
    });
}
