/**
 * CLI: `npm run payment-provider` starts the development payment provider on
 * PAYMENT_PROVIDER_HOST:PAYMENT_PROVIDER_PORT (127.0.0.1:4010 by default) and logs one JSON line
 * per request. Ctrl-C stops it. Its state lives in memory and is gone when it stops.
 */
import { startPaymentProvider } from './server.js';

function port(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 4010;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    process.stderr.write(`Invalid configuration: PAYMENT_PROVIDER_PORT must be an integer between 0 and 65535 (got ${JSON.stringify(raw)})\n`);
    process.exit(78);
  }
  return Number(raw);
}

const provider = await startPaymentProvider({
  port: port(process.env.PAYMENT_PROVIDER_PORT),
  host: process.env.PAYMENT_PROVIDER_HOST || '127.0.0.1',
  log: (line) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`),
});
process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), message: 'payment provider listening', url: provider.url })}\n`);

const stop = (): void => {
  void provider.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
