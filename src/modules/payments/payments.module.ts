import { Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config.schema.js';
import { HttpClientFactory } from '../../platform/http-client/http-client.factory.js';
import { PROCESS_LOGGER } from '../../platform/observability/logger.tokens.js';
import { HttpPaymentGateway } from './payments.http-gateway.js';
import { PAYMENT_GATEWAY, PaymentsService, PaymentUnavailableError, type PaymentGateway } from './payments.service.js';

/**
 * Without PAYMENT_PROVIDER_URL (tests that never pay, a process started without main.ts, or a
 * deployment that does not sell), every payment call is "unavailable": a saga retries it and finally
 * cancels the order, exactly as with a provider that is down. Outside tests that is logged at boot.
 */
class UnconfiguredPaymentGateway implements PaymentGateway {
  charge(): Promise<never> {
    return Promise.reject(new PaymentUnavailableError('PAYMENT_PROVIDER_URL is not set'));
  }

  refund(): Promise<never> {
    return Promise.reject(new PaymentUnavailableError('PAYMENT_PROVIDER_URL is not set'));
  }
}

function createGateway(config: AppConfig, http: HttpClientFactory, logger: Logger): PaymentGateway {
  if (config.PAYMENT_PROVIDER_URL === undefined) {
    if (config.NODE_ENV !== 'test') logger.warn('PAYMENT_PROVIDER_URL is not set: orders will be cancelled as unpaid');
    return new UnconfiguredPaymentGateway();
  }
  return new HttpPaymentGateway(http.forService('payments', { baseUrl: config.PAYMENT_PROVIDER_URL, timeoutMs: config.PAYMENT_PROVIDER_TIMEOUT_MS }));
}

@Module({
  providers: [{ provide: PAYMENT_GATEWAY, inject: [APP_CONFIG, HttpClientFactory, PROCESS_LOGGER], useFactory: createGateway }, PaymentsService],
  exports: [PaymentsService],
})
export class PaymentsModule {}
