/**
 * Raw argon2id verifications per second, run by bench/login.ts as a child process (fork) so the
 * ceiling is measured alone, with the libuv thread pool (UV_THREADPOOL_SIZE, inherited from the
 * runner like the service's) doing nothing else. One message in (RawRequest), one out (RawMessage).
 */
import { PasswordHasher, type Argon2Params } from '../src/platform/security/password-hasher.js';

export interface RawRequest {
  params: Argon2Params;
  password: string;
  /** Verifications in flight, as many as the login load has connections. */
  concurrency: number;
  /** How many of them hash at once: the service's AUTH_HASH_CONCURRENCY. */
  hashConcurrency: number;
  durationSec: number;
  warmupSec: number;
}

export type RawMessage = { type: 'result'; perSec: number; cpuMsPerVerify: number } | { type: 'error'; message: string };

/** Verifications per second with `concurrency` in flight over `durationSec`, and CPU ms per verification. */
async function measure(hasher: PasswordHasher, hash: string, password: string, concurrency: number, durationSec: number): Promise<{ perSec: number; cpuMsPerVerify: number }> {
  const deadline = performance.now() + durationSec * 1000;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if (!(await hasher.verify(hash, password))) throw new Error('verification failed');
      done += 1;
    }
  };
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedSec = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { perSec: done / elapsedSec, cpuMsPerVerify: (cpu.user + cpu.system) / 1000 / done };
}

async function run(request: RawRequest): Promise<{ perSec: number; cpuMsPerVerify: number }> {
  const hasher = new PasswordHasher(request.params, request.hashConcurrency);
  const hash = await hasher.hash(request.password);
  if (request.warmupSec > 0) await measure(hasher, hash, request.password, request.concurrency, request.warmupSec);
  return measure(hasher, hash, request.password, request.concurrency, request.durationSec);
}

process.once('disconnect', () => process.exit(1));
process.once('message', (message: unknown) => {
  run(message as RawRequest).then(
    (result) => process.send?.({ type: 'result', ...result } satisfies RawMessage),
    (error: unknown) => process.send?.({ type: 'error', message: error instanceof Error ? error.message : String(error) } satisfies RawMessage),
  );
});
