import { consoleOutput } from './cli/output.ts';
import { runCli } from './cli/program.ts';
import { loadConfig } from './config.ts';

/** The only reader of process.env and process.argv. */
function main(argv: string[]): Promise<number> {
  return runCli(
    {
      loadConfig: (overrides = {}) => loadConfig({ ...process.env, ...overrides }),
      output: consoleOutput,
      untilSignal: () =>
        new Promise((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
        }),
      readStdin: async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      },
    },
    argv,
  );
}

// Exit explicitly: after a failed shutdown, reconnect timers must not keep the process alive.
process.exit(await main(process.argv));
