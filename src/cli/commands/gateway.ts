import { readFileSync } from 'node:fs';
import { type Command, CommanderError } from 'commander';
import { parseRoutesFile } from '../../gateway/routes-file.ts';
import type { CliContext } from '../context.ts';
import { JSON_HELP, ReportedFailure } from '../shared.ts';

/** `keyward gateway check`: validates a routes file. */
export function registerGateway(program: Command, ctx: CliContext): void {
  const { output } = ctx;
  program
    .command('gateway')
    .description('Gateway mode tools (docs/GATEWAY.md)')
    .command('check')
    .description('Check a gateway routes file: prints OK, or every problem with its JSON path')
    .argument('<file>', 'the routes file, e.g. routes.json')
    .option('--json', JSON_HELP)
    .action((file: string, options: { json?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        const message = `${file}: could not be read: ${(error as Error).message}`;
        if (options.json) {
          output.out(JSON.stringify({ ok: false, file, problems: [message] }, null, 2));
          throw new ReportedFailure('routes file not readable');
        }
        output.err(message);
        throw new CommanderError(1, 'keyward.gatewayCheck', 'routes file not readable');
      }
      const result = parseRoutesFile(text);
      if (!result.ok && options.json) {
        output.out(JSON.stringify({ ok: false, file, problems: result.problems }, null, 2));
        throw new ReportedFailure('routes file has problems');
      }
      if (!result.ok) {
        for (const problem of result.problems) output.err(`${file}: ${problem}`);
        output.err(
          `${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`,
        );
        throw new CommanderError(1, 'keyward.gatewayCheck', 'routes file has problems');
      }
      const rules: Array<{ methods: string; path: string; needs: string }> = [];
      for (const route of result.routes) {
        const methods = route.methods === null ? '*' : [...route.methods].join(',');
        const needs = route.public
          ? 'public (no key)'
          : [
              'key',
              ...(route.permission === undefined ? [] : [`permission ${route.permission}`]),
              ...(route.resource === undefined
                ? []
                : [
                    `resource ${route.resource.from === 'fixed' ? route.resource.value : route.resource.from === 'body' ? `body.${route.resource.field}` : `${route.resource.from} ${route.resource.name}`}`,
                  ]),
              route.cost.from === 'fixed'
                ? `cost ${route.cost.value}`
                : `cost from response header ${route.cost.name} (estimate ${route.cost.estimate})`,
            ].join(', ');
        rules.push({ methods, path: route.path, needs });
      }
      if (options.json) {
        output.out(JSON.stringify({ ok: true, file, rules }, null, 2));
        return;
      }
      output.out(`OK: ${file} has ${rules.length} rule${rules.length === 1 ? '' : 's'}`);
      for (const rule of rules) output.out(`  ${rule.methods} ${rule.path} -> ${rule.needs}`);
    });
}
