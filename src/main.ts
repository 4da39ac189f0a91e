import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPaymentProvider, type PaymentProvider } from '../payment-provider/server.js';
import { createApp } from './app.factory.js';
import { ConfigError, describeConfig, loadConfig, type AppConfig } from './platform/config/config.schema.js';
import { LifecycleService } from './platform/health/lifecycle.service.js';
import { createProcessLogger } from './platform/observability/logger.js';

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      // One line naming the variable, then a non-zero exit: nothing half-configured starts.
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }

  // Development runs with no external services: without PAYMENT_PROVIDER_URL the bundled payment
  // provider (payment-provider/) is started on a free port and the service pays through it.
  let paymentProvider: PaymentProvider | undefined;
  if (config.NODE_ENV === 'development' && config.PAYMENT_PROVIDER_URL === undefined) {
    paymentProvider = await startPaymentProvider({ host: '127.0.0.1' });
    config = loadConfig({ ...process.env, PAYMENT_PROVIDER_URL: paymentProvider.url });
  }

  const logger = createProcessLogger(config);
  logger.info({ node: process.version, config: describeConfig(config) }, 'starting groundwork');
  if (paymentProvider) logger.info({ url: paymentProvider.url }, 'development payment provider started');

  const { app } = await createApp(config, logger);
  const lifecycle = app.get(LifecycleService);

  let shuttingDown = false;
  const shutdown = async (signal: string): Promise<void> => {
    // A second Ctrl-C or SIGTERM must not kill the process mid-drain (which would leave the
    // embedded PostgreSQL running); the grace deadline below bounds the wait instead.
    if (shuttingDown) {
      logger.warn({ signal }, 'shutdown already in progress');
      return;
    }
    shuttingDown = true;
    logger.info({ signal }, 'shutdown started: readiness now fails');
    lifecycle.markDraining();
    // Give load balancers time to see the failing readiness before the listener closes.
    await sleep(config.READINESS_DRAIN_MS);
    // In-flight requests get SHUTDOWN_GRACE_MS; past it their connections are cut so the pool and
    // the embedded database still close in order. A hard deadline covers a stuck close.
    const cutConnections = setTimeout(() => {
      logger.warn({ graceMs: config.SHUTDOWN_GRACE_MS }, 'shutdown grace period exceeded; closing remaining connections');
      app.getHttpServer().closeAllConnections();
    }, config.SHUTDOWN_GRACE_MS);
    cutConnections.unref();
    const hardDeadline = setTimeout(() => {
      logger.error('shutdown did not complete; exiting');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS + 15_000);
    hardDeadline.unref();
    try {
      // Closes the listener, waits for in-flight requests, then runs the shutdown hooks
      // (pool closed, embedded PostgreSQL stopped).
      await app.close();
      await paymentProvider?.close();
      lifecycle.markStopped();
      logger.info('shutdown complete');
      logger.flush();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await app.listen({ port: config.PORT, host: config.HOST });
  lifecycle.markServing();
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  logger.info({ url: `http://${config.HOST}:${port}`, docs: `http://${config.HOST}:${port}/docs`, node: process.version }, 'groundwork is serving');
}

main().catch((error: unknown) => {
  process.stderr.write(`groundwork failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
