import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';

/**
 * Routes Nest's own log calls (bootstrap, route mapping, lifecycle) into the process's pino logger,
 * so every line the service writes is one JSON format.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, params: unknown[]): void {
    // Nest passes the context (class name) as the last string parameter.
    const context = typeof params.at(-1) === 'string' ? (params.at(-1) as string) : undefined;
    // Route mapping lines are noise at info level; keep them for debugging.
    const effective = level === 'info' && (context === 'RouterExplorer' || context === 'InstanceLoader') ? 'debug' : level;
    if (message instanceof Error) {
      this.logger[effective]({ context, err: message }, message.message);
    } else {
      this.logger[effective]({ context }, typeof message === 'string' ? message : JSON.stringify(message));
    }
  }
}
