/**
 * Events the orders module writes to the outbox (aggregate type `order`, aggregate id the order id).
 * Payloads are version 1; consumers must ignore fields they do not know.
 */
export const ORDER_AGGREGATE = 'order';

export const OrderEvents = {
  /** The order was placed and its stock reserved; payment has not happened yet. */
  created: 'OrderCreated',
  /** The payment succeeded and the reservation became a sale. */
  confirmed: 'OrderConfirmed',
  /** The order will not be fulfilled; its reservation was released (and any charge refunded by the saga). */
  cancelled: 'OrderCancelled',
} as const;

export interface OrderCreatedPayload extends Record<string, unknown> {
  orderId: string;
  userId: string;
  organizationId: string | null;
  currency: string;
  total: number;
  items: Array<{ productId: string; quantity: number; unitPrice: number; lineTotal: number }>;
}

export interface OrderConfirmedPayload extends Record<string, unknown> {
  orderId: string;
  paymentId: string;
  total: number;
  currency: string;
}

export interface OrderCancelledPayload extends Record<string, unknown> {
  orderId: string;
  reason: string;
}
