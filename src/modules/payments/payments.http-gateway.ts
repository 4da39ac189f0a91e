import { HttpClientError } from '../../platform/http-client/http-client.errors.js';
import type { ResilientHttpClient } from '../../platform/http-client/resilient-http-client.js';
import {
  PaymentUnavailableError,
  type ChargeOutcome,
  type ChargeRequest,
  type PaymentGateway,
  type RefundOutcome,
  type RefundRequest,
} from './payments.service.js';

/** A charge as the provider (payment-provider/server.ts, or a real one with the same API) returns it. */
interface ProviderCharge {
  id: string;
  status: 'succeeded' | 'declined';
  amount: number;
  amountRefunded: number;
  reference: string;
  declineCode?: string;
}

interface ProviderError {
  error?: { code?: string; message?: string };
}

function unavailable(operation: string, error: unknown): PaymentUnavailableError {
  const detail = error instanceof HttpClientError ? error.message : 'unexpected answer';
  return new PaymentUnavailableError(`payment provider ${operation}: ${detail}`, { cause: error });
}

/**
 * The PaymentGateway over HTTP, through a ResilientHttpClient (timeouts, retries of keyed calls,
 * circuit breaker). Every charge and refund carries an Idempotency-Key, so the client's retries and
 * the saga's own re-runs charge once.
 *
 * Refunds look the order's charges up by reference (GET /charges?reference=) rather than trusting a
 * stored charge id: after a crash or a lost answer the saga may not know whether, or under which id,
 * the charge was made.
 */
export class HttpPaymentGateway implements PaymentGateway {
  constructor(private readonly http: ResilientHttpClient) {}

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    let response;
    try {
      response = await this.http.post<ProviderCharge | ProviderError>(
        '/charges',
        { amount: request.amount, currency: request.currency, reference: request.reference },
        { idempotencyKey: request.idempotencyKey },
      );
    } catch (error) {
      throw unavailable('charge', error);
    }
    const body = response.body as ProviderCharge;
    if (response.status === 201 && body.status === 'succeeded') return { status: 'succeeded', paymentId: body.id };
    if (response.status === 402) return { status: 'declined', reason: body.declineCode ?? 'declined' };
    // Any other 4xx is a request the provider will never accept (a bug on our side); retrying later
    // cannot help, so it ends the saga like a decline rather than looping.
    return { status: 'declined', reason: `provider refused the charge (${response.status} ${(response.body as ProviderError).error?.code ?? ''})`.trim() };
  }

  async refund(request: RefundRequest): Promise<RefundOutcome> {
    let charges: ProviderCharge[];
    try {
      const listed = await this.http.get<{ data: ProviderCharge[] }>('/charges', { query: { reference: request.reference } });
      if (listed.status !== 200) throw new Error(`listing charges answered ${listed.status}`);
      charges = listed.body.data;
    } catch (error) {
      throw unavailable('charge lookup', error);
    }
    const refundable = charges.filter((charge) => charge.status === 'succeeded' && charge.amountRefunded < charge.amount);
    if (refundable.length === 0) return { status: 'no-charge' };
    for (const charge of refundable) {
      let response;
      try {
        response = await this.http.post<unknown>(`/charges/${encodeURIComponent(charge.id)}/refunds`, {}, { idempotencyKey: `${request.idempotencyKey}-${charge.id}` });
      } catch (error) {
        throw unavailable('refund', error);
      }
      // 409: already fully refunded (by an earlier attempt with another key); nothing left to give back.
      if (response.status !== 201 && response.status !== 409) throw unavailable('refund', new Error(`refund answered ${response.status}`));
    }
    return { status: 'refunded' };
  }
}
