/**
 * Load generator of the orders benchmark, forked by bench/orders.ts so it never shares an event
 * loop with a server under test. Closed loop: `connections` keep-alive connections, each sending
 * POST /orders (one unit of a random hot product, a fresh Idempotency-Key) as soon as the previous
 * answer arrives. Results after the warm-up are counted by status, with latency percentiles.
 */
import { Pool } from 'undici';

export interface OrdersLoadRequest {
  url: string;
  authorization: string;
  productIds: string[];
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** Keeps keys unique across runs and servers. */
  keyPrefix: string;
}

export interface OrdersLoadSummary {
  requestsPerSec: number;
  created: number;
  byStatus: Record<string, number>;
  errors: number;
  latencyMs: { p50: number; p99: number };
}

export type OrdersLoadMessage = { type: 'result'; summary: OrdersLoadSummary } | { type: 'error'; message: string };

async function run(request: OrdersLoadRequest): Promise<OrdersLoadSummary> {
  const origin = new URL(request.url).origin;
  const pool = new Pool(origin, { connections: request.connections, pipelining: 1 });
  const started = performance.now();
  const measureFrom = started + request.warmupSec * 1000;
  const endAt = measureFrom + request.durationSec * 1000;
  const byStatus: Record<string, number> = {};
  const latencies: number[] = [];
  let errors = 0;
  let sequence = 0;

  const worker = async (): Promise<void> => {
    while (performance.now() < endAt) {
      sequence += 1;
      const productId = request.productIds[Math.floor(Math.random() * request.productIds.length)]!;
      const sent = performance.now();
      try {
        const response = await pool.request({
          path: '/orders',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: request.authorization, 'idempotency-key': `${request.keyPrefix}-${sequence}` },
          body: JSON.stringify({ items: [{ productId, quantity: 1 }] }),
        });
        await response.body.dump();
        if (sent >= measureFrom && performance.now() <= endAt) {
          byStatus[response.statusCode] = (byStatus[response.statusCode] ?? 0) + 1;
          latencies.push(performance.now() - sent);
        }
      } catch {
        if (sent >= measureFrom) errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: request.connections }, worker));
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10;
  const total = Object.values(byStatus).reduce((sum, count) => sum + count, 0);
  return { requestsPerSec: total / request.durationSec, created: byStatus['201'] ?? 0, byStatus, errors, latencyMs: { p50: at(0.5), p99: at(0.99) } };
}

process.once('message', (request: OrdersLoadRequest) => {
  run(request).then(
    (summary) => process.send?.({ type: 'result', summary } satisfies OrdersLoadMessage),
    (error: unknown) => process.send?.({ type: 'error', message: error instanceof Error ? error.message : String(error) } satisfies OrdersLoadMessage),
  );
});
