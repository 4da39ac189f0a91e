import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { Consumer, MessagesStreamModes, Producer, stringDeserializers, stringSerializers, type Message } from '@platformatic/kafka';

const execFileAsync = promisify(execFile);
const SCRIPT = path.resolve(import.meta.dirname, '../../scripts/kafka.sh');

/** The shared broker of this test run (.ci/run starts it with scripts/kafka.sh), or undefined. */
export const KAFKA_BROKERS = process.env.KAFKA_BROKERS;

/** A topic prefix no other test run uses, so runs and files never see each other's messages. */
export function uniquePrefix(label: string): string {
  return `gwtest.${label}.${randomBytes(4).toString('hex')}.`;
}

export type StringMessage = Message<string, string, string, string>;

/**
 * Reads a topic from the beginning with a plain consumer (its own throwaway group) until `done`
 * says the messages so far are enough, or `timeoutMs` passes; returns what it read.
 */
export async function readTopic(brokers: string, topic: string, done: (messages: StringMessage[]) => boolean, timeoutMs = 20_000): Promise<StringMessage[]> {
  const consumer = new Consumer({
    clientId: 'test-reader',
    groupId: `test-reader-${randomBytes(6).toString('hex')}`,
    bootstrapBrokers: brokers.split(','),
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: 200,
  });
  const messages: StringMessage[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    try {
      for await (const message of stream as AsyncIterable<StringMessage>) {
        messages.push(message);
        if (done(messages)) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => undefined);
    }
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
  return messages;
}

/** Sends raw string messages, as any other producer on the cluster could. */
export async function produceRaw(brokers: string, messages: Array<{ topic: string; key?: string; value: string; headers?: Record<string, string> }>): Promise<void> {
  const producer = new Producer({ clientId: 'test-producer', bootstrapBrokers: brokers.split(','), serializers: stringSerializers, autocreateTopics: true });
  try {
    await producer.send({ messages });
  } finally {
    await producer.close();
  }
}

/** A broker of the test's own (scripts/kafka.sh), for tests that stop and restart it. */
export class OwnBroker {
  private constructor(
    readonly dir: string,
    readonly address: string,
  ) {}

  static async start(): Promise<OwnBroker> {
    const { stdout } = await execFileAsync('bash', [SCRIPT, 'start'], { timeout: 180_000 });
    const [dir, address] = stdout.trim().split(/\s+/);
    if (!dir || !address) throw new Error(`unexpected kafka.sh output: ${stdout}`);
    return new OwnBroker(dir, address);
  }

  async stop(): Promise<void> {
    await execFileAsync('bash', [SCRIPT, 'stop', this.dir], { timeout: 60_000 });
  }

  /** Starts it again on the same port with the same data. */
  async restart(): Promise<void> {
    await execFileAsync('bash', [SCRIPT, 'start', this.dir], { timeout: 180_000 });
  }

  async remove(): Promise<void> {
    await execFileAsync('bash', [SCRIPT, 'remove', this.dir], { timeout: 60_000 });
  }
}
