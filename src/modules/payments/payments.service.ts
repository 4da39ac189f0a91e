import { Inject, Injectable } from '@nestjs/common';

/** A charge of `amount` minor units; `idempotencyKey` makes a repeated call charge once. */
export interface ChargeRequest {
  idempotencyKey: string;
  amount: number;
  currency: string;
  /** What the charge is for (the order id), shown on the provider's side. */
  reference: string;
}

export type ChargeOutcome = { status: 'succeeded'; paymentId: string } | { status: 'declined'; reason: string };

/**
 * A full refund of whatever was charged for `reference` (the order), whether or not the caller knows
 * the payment id: after a crash or a lost answer it may not.
 */
export interface RefundRequest {
  idempotencyKey: string;
  reference: string;
}

/** `refunded`: money went back; `no-charge`: the provider has no such charge, so nothing to give back. */
export type RefundOutcome = { status: 'refunded' } | { status: 'no-charge' };

/**
 * The outcome of a call is unknown or the provider is unreachable (timeout, 5xx after retries, open
 * circuit). Safe to retry later with the same idempotency key.
 */
export class PaymentUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PaymentUnavailableError';
  }
}

/** The payment port. Drivers: HttpPaymentGateway (payments.http-gateway.ts). */
export interface PaymentGateway {
  /** Declines are outcomes; an unknown outcome throws PaymentUnavailableError. */
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /** Idempotent by `idempotencyKey`; throws PaymentUnavailableError when the outcome is unknown. */
  refund(request: RefundRequest): Promise<RefundOutcome>;
}

export const PAYMENT_GATEWAY = Symbol('PAYMENT_GATEWAY');

/** What other modules use to take and give back money; the driver behind it is chosen in PaymentsModule. */
@Injectable()
export class PaymentsService {
  constructor(@Inject(PAYMENT_GATEWAY) private readonly gateway: PaymentGateway) {}

  charge(request: ChargeRequest): Promise<ChargeOutcome> {
    return this.gateway.charge(request);
  }

  refund(request: RefundRequest): Promise<RefundOutcome> {
    return this.gateway.refund(request);
  }
}
