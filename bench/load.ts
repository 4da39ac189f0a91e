/**
 * Load generator, run by bench/run.ts as a child process (fork) so that autocannon never shares an
 * event loop with a server under test or with the runner. One message in (LoadRequest), progress
 * and one result out (LoadMessage).
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  url: string;
  /** Paths requested in rotation; one path means a fixed request. */
  paths: string[];
  /** Sent on every request (the Authorization header). */
  headers: Record<string, string>;
  /** GET unless given; a body is only sent with a single fixed path. */
  method?: 'GET' | 'POST';
  body?: string;
  connections: number;
  durationSec: number;
  warmupSec: number;
  timeoutSec: number;
}

export interface LoadSummary {
  requestsPerSec: number;
  totalRequests: number;
  durationSec: number;
  latencyMs: { average: number; p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  /** CPU time autocannon itself used while measuring; shows when the load generator is the limit. */
  loadGeneratorCpuMs: number;
}

export type LoadMessage =
  | { type: 'measuring' }
  | { type: 'result'; summary: LoadSummary }
  | { type: 'error'; message: string };

function send(message: LoadMessage): void {
  process.send?.(message);
}

function isLoadRequest(value: unknown): value is LoadRequest {
  const candidate = value as Partial<LoadRequest> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.url === 'string' &&
    Array.isArray(candidate.paths) &&
    candidate.paths.length > 0 &&
    typeof candidate.headers === 'object' &&
    candidate.headers !== null &&
    typeof candidate.connections === 'number' &&
    typeof candidate.durationSec === 'number' &&
    typeof candidate.warmupSec === 'number' &&
    typeof candidate.timeoutSec === 'number'
  );
}

function options(request: LoadRequest, durationSec: number): autocannon.Options {
  const base: autocannon.Options = {
    url: request.url,
    headers: request.headers,
    connections: request.connections,
    duration: durationSec,
    timeout: request.timeoutSec,
    pipelining: 1,
  };
  const [first] = request.paths;
  if (request.paths.length === 1 && first !== undefined) {
    return { ...base, url: new URL(first, request.url).href, method: request.method ?? 'GET', ...(request.body !== undefined && { body: request.body }) };
  }
  // One counter shared by all connections walks the id list in order, so every id is requested
  // about equally often and no connection keeps hitting a row that is already hot.
  const paths = request.paths;
  let next = 0;
  return {
    ...base,
    requests: [
      {
        method: 'GET',
        headers: request.headers,
        setupRequest: (req) => {
          const path = paths[next % paths.length] ?? first;
          next++;
          return { ...req, path };
        },
      },
    ],
  };
}

async function run(request: LoadRequest): Promise<LoadSummary> {
  if (request.warmupSec > 0) await autocannon(options(request, request.warmupSec));
  send({ type: 'measuring' });
  const cpuBefore = process.cpuUsage();
  const result = await autocannon(options(request, request.durationSec));
  const cpu = process.cpuUsage(cpuBefore);
  return {
    requestsPerSec: result.requests.average,
    totalRequests: result.requests.total,
    durationSec: result.duration,
    latencyMs: {
      average: result.latency.average,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    loadGeneratorCpuMs: Math.round((cpu.user + cpu.system) / 1000),
  };
}

let finished = false;
// If the runner goes away mid-run, stop generating load at once.
process.once('disconnect', () => process.exit(finished ? 0 : 1));
process.once('message', (message: unknown) => {
  if (!isLoadRequest(message)) {
    send({ type: 'error', message: 'malformed load request' });
    return;
  }
  run(message).then(
    (summary) => {
      finished = true;
      send({ type: 'result', summary });
    },
    (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
