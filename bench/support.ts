/** Small helpers shared by the benchmarks (bench/run.ts, bench/login.ts, bench/orders.ts). */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (benchmarks never listen anywhere else). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const CLOCK_TICKS = ((): number => {
  const value = Number.parseInt(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout ?? '', 10);
  return Number.isInteger(value) && value > 0 ? value : 100;
})();

/**
 * utime + stime in ms from /proc (Linux; undefined elsewhere): of a whole process, or with
 * `thread` of one of its threads (the main thread's id is the pid).
 */
export async function processCpuMs(pid: number, thread?: number): Promise<number | undefined> {
  try {
    const stat = await readFile(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after it are space-separated.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS : undefined;
  } catch {
    return undefined;
  }
}

/** CPU ms of the threads of `pid` whose name is `name` (Node names worker threads `WorkerThread`), summed. */
export async function namedThreadsCpuMs(pid: number, name: string): Promise<number | undefined> {
  try {
    let total = 0;
    for (const thread of await readdir(`/proc/${pid}/task`)) {
      const comm = await readFile(`/proc/${pid}/task/${thread}/comm`, 'utf8').catch(() => '');
      if (comm.trim() !== name) continue;
      total += (await processCpuMs(pid, Number(thread))) ?? 0;
    }
    return total;
  } catch {
    return undefined;
  }
}

/** A child process the runner started, with the last 40 lines it printed (for error messages). */
export interface TrackedChild {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

const children = new Set<ChildProcess>();
// No child may outlive the runner, whatever path it exits by ('exit' handlers must be synchronous).
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Registers a child so it is killed when the runner exits, and keeps the tail of its output. */
export function track(child: ChildProcess): TrackedChild {
  children.add(child);
  const tail: string[] = [];
  const collect = (chunk: Buffer): void => {
    tail.push(...chunk.toString('utf8').split('\n').filter((line) => line.trim() !== ''));
    tail.splice(0, Math.max(0, tail.length - 40));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));
  return { child, exited, output: () => tail.join('\n') };
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`; nothing if it already has. */
export async function stopTracked(tracked: TrackedChild | undefined, graceMs = 10_000): Promise<void> {
  if (!tracked || tracked.child.exitCode !== null || tracked.child.signalCode !== null) return;
  tracked.child.kill('SIGTERM');
  const timer = setTimeout(() => tracked.child.kill('SIGKILL'), graceMs);
  await tracked.exited;
  clearTimeout(timer);
}
