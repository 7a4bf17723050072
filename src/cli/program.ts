import { Command } from 'commander';
import { buildCommit, VERSION } from '../version.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerGateway } from './commands/gateway.ts';
import { registerKeys } from './commands/keys.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerServe } from './commands/serve.ts';
import { registerToken } from './commands/token.ts';
import { registerUser } from './commands/user.ts';
import type { CliContext } from './context.ts';

export { DoctorFailed } from './commands/doctor.ts';
export type { CliContext } from './context.ts';

/**
 * The `keyward` program. Each command (or group) lives in its own file under commands/ and is
 * registered here; adding one is a new file and one line below.
 */
export function buildProgram(ctx: CliContext): Command {
  const { output } = ctx;
  const program = new Command('keyward')
    .description(
      'Keyward: self-hosted API key management. Settings come from the environment; see docs/CONFIGURATION.md.',
    )
    .version(
      `keyward ${VERSION}${buildCommit() === null ? '' : ` (${buildCommit()?.slice(0, 12)})`}`,
      '-V, --version',
      'print the release and commit',
    )
    .showHelpAfterError()
    .configureOutput({
      writeOut: (s) => output.out(s.trimEnd()),
      writeErr: (s) => output.err(s.trimEnd()),
    })
    .exitOverride();

  registerServe(program, ctx);
  registerMigrate(program, ctx);
  registerUser(program, ctx);
  registerToken(program, ctx);
  registerKeys(program, ctx);
  registerDoctor(program, ctx);
  registerGateway(program, ctx);
  return program;
}
