/** Exit codes and config loading shared by the command-line scripts (sysexits.h numbering). */
import { ConfigError, loadConfig, type AppConfig } from '../src/platform/config/config.schema.js';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 64;
export const EXIT_DATA = 65;
export const EXIT_CONFIG = 78;

export function fail(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The validated configuration, or (after printing the one-line reason) undefined. */
export function loadConfigOrReport(): AppConfig | undefined {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      fail(error.message);
      return undefined;
    }
    throw error;
  }
}
