import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.ts';
import { AppError } from '../core/errors.ts';
import { buildCommit, VERSION } from '../version.ts';
import { registerBackupCommands } from './backup.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerGateway } from './commands/gateway.ts';
import { registerKeys } from './commands/keys.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerServe } from './commands/serve.ts';
import { registerToken } from './commands/token.ts';
import { registerUser } from './commands/user.ts';
import type { CliContext } from './context.ts';
import { registerImportCommands } from './import.ts';
import { CliError, ReportedFailure } from './shared.ts';

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
  registerBackupCommands(program, ctx);
  registerToken(program, ctx);
  registerKeys(program, ctx);
  registerImportCommands(program, ctx);
  registerDoctor(program, ctx);
  registerGateway(program, ctx);
  return program;
}

/** Whether the command line asks for JSON (`--json` before any `--`). */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Runs the program on `argv` (as process.argv: node, script, arguments) and answers the exit
 * code. A failure is one line on standard error, or with `--json` one document
 * `{"error": {"code", "message"}}` on standard output; either way the exit code is not 0.
 */
export async function runCli(ctx: CliContext, argv: readonly string[]): Promise<number> {
  const json = wantsJson(argv.slice(2));
  const fail = (code: string, message: string, details?: Record<string, unknown>) => {
    if (json) ctx.output.out(JSON.stringify({ error: { code, message, ...details } }, null, 2));
    else ctx.output.err(message);
    return 1;
  };
  try {
    await buildProgram(ctx).parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end the same way, with exit code 0; commander printed the reason.
      if (error.exitCode === 0 || !json) return error.exitCode;
      return fail('usage_error', error.message.replace(/^error: /, ''));
    }
    // doctor and gateway check printed their own report (with --json, the report is the document).
    if (error instanceof ReportedFailure) return 1;
    if (error instanceof ConfigError)
      return fail('config_error', error.message, { problems: error.problems });
    if (error instanceof AppError || error instanceof CliError)
      return fail(error.code, error.message);
    return fail('error', `keyward: ${(error as Error).message ?? String(error)}`);
  }
}
