import type { Config, SettingName } from '../config.ts';
import type { Output } from './output.ts';

/** What every command receives: the settings, where to write, and the process's signals. */
export interface CliContext {
  /**
   * Loads and checks the configuration; throws ConfigError listing every problem. `overrides`
   * (command-line flags) take precedence over the environment.
   */
  loadConfig(overrides?: Partial<Record<SettingName, string>>): Config;
  output: Output;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); for `serve`. */
  untilSignal(): Promise<string>;
  /** All of standard input, for `--password-stdin` (absent: there is no standard input to read). */
  readStdin?(): Promise<string>;
}
