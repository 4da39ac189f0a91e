import type pg from 'pg';
import type { Logger } from 'pino';
import { toEnvelope, type EventStore } from './event-store.js';
import type { EventsDatabase, EventTransport } from './event-transport.js';
import { OUTBOX_CHANNEL } from './event-writer.js';
import type { EventsMetrics } from './events.metrics.js';

/** Key of the session advisory lock only the active relay holds (any constant unique to this purpose). */
export const RELAY_LOCK_KEY = 0x67776f62; // "gwob"

const MAX_BACKOFF_MS = 30_000;
const PURGE_EVERY_MS = 10 * 60_000;

export interface OutboxRelayOptions {
  batchSize: number;
  pollMs: number;
  retentionHours: number;
}

/**
 * Moves committed outbox events to the transport. Exactly one relay is active across all replicas:
 * the one holding a PostgreSQL session advisory lock on its own connection; when that process dies
 * its connection closes, the lock is released, and a standby (retrying every pollMs) takes over.
 * The active relay wakes on NOTIFY from committing writers and polls as a fallback.
 * A batch is claimed with FOR UPDATE SKIP LOCKED, published, and marked published in the same
 * transaction; a crash or failure between publish and mark republishes (at least once).
 */
export class OutboxRelay {
  private client: pg.Client | undefined;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private notified = false;
  private failures = 0;
  private lastPurge = 0;
  private sessionPid: number | undefined;
  private connectionBroken = false;

  constructor(
    private readonly database: EventsDatabase,
    private readonly store: EventStore,
    private readonly transport: EventTransport,
    private readonly metrics: EventsMetrics,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions,
  ) {}

  /** True while this relay holds the lock and publishes. */
  get isLeader(): boolean {
    return this.client !== undefined;
  }

  /** The backend pid of the lock connection while leader (what dies with the process). */
  get lockSessionPid(): number | undefined {
    return this.client ? this.sessionPid : undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops after the batch in flight and releases the lock by closing its connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.dropLeadership();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.client && !(await this.acquire())) {
          await this.idle(this.options.pollMs, false);
          continue;
        }
        const published = await this.relayBatch();
        if (this.failures > 0) this.logger.info({ failures: this.failures }, 'outbox relay publishing again');
        this.failures = 0;
        if (published >= this.options.batchSize) continue;
        await this.purgeWhenDue();
        // Proves the lock connection is alive while idle; a dead one means the lock is gone too.
        await this.client?.query('SELECT 1');
        await this.idle(this.options.pollMs, true);
      } catch (error) {
        this.failures += 1;
        if (this.failures === 1 || this.failures % 10 === 0) {
          this.logger.warn({ err: error, failures: this.failures, transport: this.transport.name }, 'outbox relay failed; backing off');
        }
        if (this.client && this.connectionBroken) await this.dropLeadership();
        const ceiling = Math.min(MAX_BACKOFF_MS, this.options.pollMs * 2 ** Math.min(this.failures - 1, 10));
        await this.idle(ceiling / 2 + (Math.random() * ceiling) / 2, false);
      }
    }
  }

  /** Tries the lock once on a fresh connection; keeps the connection only when the lock was won. */
  private async acquire(): Promise<boolean> {
    const client = await this.database.dedicatedClient('groundwork-outbox-relay');
    try {
      const { rows } = await client.query<{ locked: boolean; pid: number }>('SELECT pg_try_advisory_lock($1) AS locked, pg_backend_pid() AS pid', [
        RELAY_LOCK_KEY,
      ]);
      if (!rows[0]?.locked) {
        await client.end();
        return false;
      }
      this.sessionPid = rows[0].pid;
      this.connectionBroken = false;
      client.on('error', (error) => {
        this.connectionBroken = true;
        this.logger.warn({ err: error }, 'outbox relay lock connection failed');
      });
      client.on('notification', () => {
        this.notified = true;
        this.wake?.();
      });
      client.on('end', () => {
        if (this.client === client) {
          this.client = undefined;
          this.metrics.leader.set(0);
          if (!this.stopped) this.logger.warn('outbox relay lost its lock connection; standing by');
        }
      });
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      this.client = client;
      this.metrics.leader.set(1);
      this.logger.info('outbox relay is the active relay');
      return true;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  private async dropLeadership(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.metrics.leader.set(0);
    // Closing the session releases the advisory lock; no explicit unlock is needed or possible on a dead one.
    await client?.end().catch(() => undefined);
  }

  /** Publishes one batch; returns how many events it published. */
  private async relayBatch(): Promise<number> {
    let claimed: string[] = [];
    try {
      return await this.database.transaction(async (trx) => {
        const rows = await this.store.claimBatch(trx, this.options.batchSize);
        claimed = rows.map((row) => row.id);
        if (rows.length === 0) return 0;
        await this.transport.publish(rows.map(toEnvelope));
        await this.store.markPublished(trx, claimed);
        const now = Date.now();
        for (const row of rows) this.metrics.relayLag.observe({ transport: this.transport.name }, (now - row.occurred_at.getTime()) / 1000);
        this.metrics.published.inc({ transport: this.transport.name }, rows.length);
        return rows.length;
      });
    } catch (error) {
      this.metrics.publishFailures.inc({ transport: this.transport.name });
      if (claimed.length > 0) {
        const message = error instanceof Error ? error.message : String(error);
        await this.store.recordPublishFailure(claimed, message).catch(() => undefined);
      }
      throw error;
    }
  }

  private async purgeWhenDue(): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    const purged = await this.store.purge(this.options.retentionHours);
    if (purged > 0) this.logger.info({ purged }, 'purged published outbox and old inbox rows');
  }

  /** Waits up to `ms`; a NOTIFY (when `wakeable`) or stop() ends the wait early. */
  private async idle(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped) return;
    if (wakeable && this.notified) {
      this.notified = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wakeUp = (): void => {
        if (wakeable || this.stopped) done();
      };
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = wakeUp;
    });
    this.wake = undefined;
    this.notified = false;
  }
}
