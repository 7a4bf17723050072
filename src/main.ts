import { CommanderError } from 'commander';
import { consoleOutput } from './cli/output.ts';
import { buildProgram, DoctorFailed } from './cli/program.ts';
import { ConfigError, loadConfig } from './config.ts';
import { AppError } from './core/errors.ts';

/** The only reader of process.env and process.argv. */
async function main(argv: string[]): Promise<number> {
  const program = buildProgram({
    loadConfig: (overrides = {}) => loadConfig({ ...process.env, ...overrides }),
    output: consoleOutput,
    untilSignal: () =>
      new Promise((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      }),
  });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof DoctorFailed) return 1;
    if (error instanceof ConfigError || error instanceof AppError) {
      consoleOutput.err(error.message);
      return 1;
    }
    consoleOutput.err(`keyward: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
}

// Exit explicitly: after a failed shutdown, reconnect timers must not keep the process alive.
process.exit(await main(process.argv));
