/**
 * Events benchmark: events per second through the outbox and the relay to Kafka, and relay lag,
 * beside the raw producer (idempotent, acks=all, same batches) measured in the same run.
 *
 *   npm run bench:events [-- --events 50000 --batch <EVENTS_RELAY_BATCH_SIZE> --rate 5000 --duration 10]
 *
 * Kafka: KAFKA_BROKERS, or a broker of its own started (and removed) with scripts/kafka.sh.
 * PostgreSQL: DATABASE_URL, or an embedded server in DATA_DIR/bench-events/pg.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { Producer, ProduceAcks, stringSerializers } from '@platformatic/kafka';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/platform/config/config.schema.js';
import { migrateToLatest } from '../src/platform/database/migrator.js';
import { runInTransaction } from '../src/platform/database/transaction.js';
import type { EventEnvelope } from '../src/platform/events/event-envelope.js';
import { EventStore } from '../src/platform/events/event-store.js';
import type { EventsDatabase, EventTransport } from '../src/platform/events/event-transport.js';
import { EventWriter } from '../src/platform/events/event-writer.js';
import { EventsMetrics } from '../src/platform/events/events.metrics.js';
import { eventHeaders, KafkaTopics, KafkaTransport, topicFor, type KafkaSettings } from '../src/platform/events/kafka.js';
import { OutboxRelay } from '../src/platform/events/outbox-relay.js';
import { MetricsService } from '../src/platform/observability/metrics.js';
import { openDatabase } from '../scripts/seed.js';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

function say(message: string): void {
  process.stdout.write(`bench:events: ${message}\n`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function lagSummary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${(sorted.at(-1) ?? 0).toFixed(0)} ms`;
}

/** Records, per event, the time from its outbox write to the broker's acknowledgement. */
class TimingTransport implements EventTransport {
  readonly name = 'kafka';
  readonly lagsMs: number[] = [];
  published = 0;
  constructor(private readonly inner: EventTransport) {}
  async publish(events: readonly EventEnvelope[]): Promise<void> {
    await this.inner.publish(events);
    const now = Date.now();
    for (const event of events) this.lagsMs.push(now - Date.parse(event.metadata.timestamp));
    this.published += events.length;
  }
}

function sampleEvent(n: number): { eventType: string; aggregateType: string; aggregateId: string; payload: Record<string, unknown> } {
  // A payload the size of a UserUpdated event.
  return {
    eventType: 'UserUpdated',
    aggregateType: 'user',
    aggregateId: `agg-${n % 1000}`,
    payload: { user: { id: uuidv7(), email: `user${n}@example.com`, name: `User ${n}`, status: 'active', role: 'user', organizationId: null }, changed: ['name'] },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { events: { type: 'string' }, batch: { type: 'string' }, rate: { type: 'string' }, duration: { type: 'string' } },
  });
  const total = Number(values.events ?? 50_000);
  const batch = Number(values.batch ?? loadConfig().EVENTS_RELAY_BATCH_SIZE);
  const rate = Number(values.rate ?? 5_000);
  const durationSec = Number(values.duration ?? 10);
  const config = loadConfig();
  say(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'})`);

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    let brokers = config.KAFKA_BROKERS;
    if (!brokers) {
      say('starting a Kafka broker with scripts/kafka.sh');
      const { stdout } = await execFileAsync('bash', [path.join(ROOT, 'scripts/kafka.sh'), 'start'], { timeout: 300_000 });
      const [dir, address] = stdout.trim().split(/\s+/);
      cleanups.push(async () => void (await execFileAsync('bash', [path.join(ROOT, 'scripts/kafka.sh'), 'remove', dir!])));
      brokers = [address!];
    }
    say(`Kafka at ${brokers.join(',')}`);

    const handle = await openDatabase({
      databaseUrl: config.DATABASE_URL,
      dataDir: path.join(config.DATA_DIR, 'bench-events', 'pg'),
      database: 'groundwork_events_bench',
      poolSize: 10,
      applicationName: 'groundwork-bench-events',
    });
    cleanups.push(() => handle.close());
    await migrateToLatest(handle.db as Kysely<unknown>);
    await sql`TRUNCATE outbox`.execute(handle.db);

    const database: EventsDatabase = {
      db: handle.db,
      transaction: (work, options) => runInTransaction(handle.db, work, options),
      dedicatedClient: async (applicationName) => {
        const client = new pg.Client({ connectionString: handle.connectionString, application_name: applicationName });
        client.on('error', () => undefined);
        await client.connect();
        return client;
      },
    };
    const settings: KafkaSettings = { brokers, topicPrefix: `bench.${randomBytes(4).toString('hex')}.`, clientId: 'groundwork-bench' };
    const topics = new KafkaTopics(settings);
    cleanups.push(() => topics.close());
    const topic = topicFor(settings, 'user');
    await topics.ensure([topic]);
    const logger = pino({ level: 'warn' });
    const metrics = new EventsMetrics(new MetricsService());
    const store = new EventStore(database);
    const writer = new EventWriter();

    // 1. Raw producer: the same envelopes, same batch size, idempotent, acks=all, one batch at a time.
    const producer = new Producer({
      clientId: 'groundwork-bench-raw',
      bootstrapBrokers: brokers,
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    cleanups.push(() => producer.close());
    const envelopes: EventEnvelope[] = Array.from({ length: total }, (_, n) => {
      const event = sampleEvent(n);
      return {
        eventId: uuidv7(),
        ...event,
        metadata: { timestamp: new Date().toISOString(), version: 1, correlationId: null, causationId: null },
        traceparent: null,
      };
    });
    const toMessage = (event: EventEnvelope) => ({ topic, key: event.aggregateId, value: JSON.stringify(event), headers: eventHeaders(event) });
    await producer.send({ messages: envelopes.slice(0, batch).map(toMessage) }); // warm-up: connections, producer id
    let started = performance.now();
    for (let i = 0; i < total; i += batch) await producer.send({ messages: envelopes.slice(i, i + batch).map(toMessage) });
    const rawSeconds = (performance.now() - started) / 1000;
    const rawRate = total / rawSeconds;
    say(`raw producer: ${total} events in ${rawSeconds.toFixed(2)} s = ${rawRate.toFixed(0)} events/s`);

    // 2. Outbox drain: the backlog written first (as after an outage), then relayed.
    for (let i = 0; i < total; i += 1000) {
      await database.transaction((trx) => writer.appendMany(trx, Array.from({ length: Math.min(1000, total - i) }, (_, k) => sampleEvent(i + k))));
    }
    const drainTransport = new TimingTransport(new KafkaTransport(settings, topics, logger));
    const drainRelay = new OutboxRelay(database, store, drainTransport, metrics, logger, { batchSize: batch, pollMs: 100, retentionHours: 24 });
    started = performance.now();
    drainRelay.start();
    while (drainTransport.published < total) await sleep(20);
    const drainSeconds = (performance.now() - started) / 1000;
    await drainRelay.stop();
    const drainRate = total / drainSeconds;
    say(`outbox -> relay -> Kafka (backlog drain): ${total} events in ${drainSeconds.toFixed(2)} s = ${drainRate.toFixed(0)} events/s (${((drainRate / rawRate) * 100).toFixed(0)}% of raw)`);

    // 3. Relay lag at a steady write rate: writers append `rate` events/s in small transactions
    //    (as a busy API would) while the relay runs; lag = outbox write -> broker ack.
    const steadyTransport = new TimingTransport(new KafkaTransport(settings, topics, logger));
    const relay = new OutboxRelay(database, store, steadyTransport, metrics, logger, { batchSize: batch, pollMs: 100, retentionHours: 24 });
    relay.start();
    const tickMs = 20;
    const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
    // Writers: up to 8 transactions in flight (the pool has 10 connections), 25 events each.
    const perTransaction = 25;
    const inFlight = new Set<Promise<unknown>>();
    let written = 0;
    const rawLags: number[] = [];
    const rawSender = new Producer({ clientId: 'groundwork-bench-raw-steady', bootstrapBrokers: brokers, serializers: stringSerializers, idempotent: true, acks: ProduceAcks.ALL });
    cleanups.push(() => rawSender.close());
    await rawSender.send({ messages: envelopes.slice(0, 1).map(toMessage) });
    const steadyStart = performance.now();
    const pending: Array<Promise<unknown>> = [];
    for (let tick = 0; performance.now() - steadyStart < durationSec * 1000; tick++) {
      const due = steadyStart + tick * tickMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      for (let k = 0; k < perTick; k += perTransaction) {
        const count = Math.min(perTransaction, perTick - k);
        const base = written;
        written += count;
        while (inFlight.size >= 8) await Promise.race(inFlight);
        const write = database.transaction((trx) => writer.appendMany(trx, Array.from({ length: count }, (_, j) => sampleEvent(base + j))));
        inFlight.add(write);
        void write.finally(() => inFlight.delete(write));
        pending.push(write);
      }
      // The raw producer's latency at the same rate and batching per tick, for comparison.
      const sentAt = Date.now();
      const slice = envelopes.slice((tick * perTick) % (total - perTick), ((tick * perTick) % (total - perTick)) + perTick);
      pending.push(rawSender.send({ messages: slice.map(toMessage) }).then(() => rawLags.push(Date.now() - sentAt)));
    }
    await Promise.all(pending);
    const wroteSeconds = (performance.now() - steadyStart) / 1000;
    while (steadyTransport.published < written) await sleep(20);
    await relay.stop();
    say(`steady writes: ${written} events in ${wroteSeconds.toFixed(1)} s = ${(written / wroteSeconds).toFixed(0)} events/s`);
    say(`relay lag (outbox write -> Kafka ack): ${lagSummary(steadyTransport.lagsMs)}`);
    say(`raw producer send latency at the same rate: ${lagSummary(rawLags)}`);
    const p99 = percentile([...steadyTransport.lagsMs].sort((a, b) => a - b), 99);
    say(`targets: >= 5000 events/s through the outbox: ${drainRate >= 5000 ? 'met' : 'NOT met'}; relay lag p99 < 1 s: ${p99 < 1000 ? 'met' : 'NOT met'}`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:events failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
