/** DI token of the process-wide pino logger (for code outside a request). */
export const PROCESS_LOGGER = Symbol('PROCESS_LOGGER');
