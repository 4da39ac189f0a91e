/** Small helpers shared by the benchmarks (bench/run.ts, bench/login.ts). */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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
