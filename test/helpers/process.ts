import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The Node binary pinned in devDependencies (package.json "node"), not whatever is on PATH. */
export const PINNED_NODE = path.resolve('node_modules/.bin/node');

/** Compiles the project to dist/ (src, migrations, scripts) the way `npm start` does. */
export async function buildProject(): Promise<void> {
  await execFileAsync('npm', ['run', '-s', 'build'], { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
}

/**
 * A minimal environment for a child process: no variable of the test runner (NODE_ENV=test,
 * DATABASE_URL, VITEST...) leaks in, so the child sees only what the test gives it.
 */
export function cleanEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...env };
}

export interface ServiceProcess {
  child: ChildProcess;
  /** stdout lines parsed as JSON (every line the service writes is a JSON log line). */
  lines: Array<Record<string, unknown>>;
  /** stdout lines that were not JSON. */
  strayStdout: string[];
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Resolves with the first log line matching `predicate`, including lines already written. */
  waitForLine(predicate: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
}

/** Spawns `node <script> ...args` with the pinned Node and the given environment, capturing its output. */
export function spawnNode(script: string, args: string[], env: Record<string, string>): ServiceProcess {
  const child = spawn(PINNED_NODE, [script, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const strayStdout: string[] = [];
  let stderr = '';
  let pending = '';
  const waiters: Array<{ predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }> = [];

  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const text of complete) {
      if (!text.trim()) continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        strayStdout.push(text);
        continue;
      }
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });

  return {
    child,
    lines,
    strayStdout,
    stderr: () => stderr,
    exited,
    waitForLine(predicate, timeoutMs) {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no matching log line within ${timeoutMs} ms; stdout so far:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const waiter = {
          predicate,
          resolve: (line: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
        void exited.then((code) => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`process exited (${code}) before the expected log line; stderr:\n${stderr}`));
        });
      });
    },
  };
}

/** Resolves with the exit code, or rejects when the process is still running after `timeoutMs`. */
export async function exitWithin(service: ServiceProcess, timeoutMs: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`process ${service.child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([service.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills a child that is still running (used in afterAll so no test leaves a process behind). */
export async function killIfRunning(service: ServiceProcess | undefined): Promise<void> {
  if (!service || service.child.exitCode !== null || service.child.signalCode !== null) return;
  service.child.kill('SIGKILL');
  await service.exited;
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request on its own connection (no keep-alive pool), so nothing outlives the call. */
export function httpRequest(url: string, options: { method?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const request = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: { connection: 'close', ...options.headers, ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
        timeout: options.timeoutMs ?? 10_000,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`request to ${url} timed out`)));
    request.on('error', reject);
    request.end(payload);
  });
}

/**
 * Signs in over HTTP (POST /auth/login) and returns the Authorization header to send; the service
 * must have the account, e.g. from ADMIN_EMAIL and ADMIN_PASSWORD at start.
 */
export async function signInOverHttp(baseUrl: string, email: string, password: string): Promise<{ authorization: string }> {
  const res = await httpRequest(`${baseUrl}/auth/login`, { method: 'POST', body: { email, password } });
  if (res.status !== 200) throw new Error(`login failed with ${res.status}: ${res.body}`);
  return { authorization: `Bearer ${(JSON.parse(res.body) as { accessToken: string }).accessToken}` };
}

/** Processes whose command line mentions `needle` (e.g. a PostgreSQL data directory). */
export async function processesMentioning(needle: string): Promise<Array<{ pid: number; cmdline: string }>> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  if (!existsSync('/proc/self/cmdline')) {
    // No procfs (macOS): ask ps for every process's command line.
    const { stdout } = await execFileAsync('ps', ['-A', '-o', 'pid=,command='], { maxBuffer: 16 * 1024 * 1024 });
    for (const line of stdout.split('\n')) {
      const match = /^\s*(\d+)\s+(.*)$/.exec(line);
      if (match?.[1] && match[2]?.includes(needle)) found.push({ pid: Number(match[1]), cmdline: match[2] });
    }
    return found;
  }
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim();
      if (cmdline.includes(needle)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // The process ended while we were looking.
    }
  }
  return found;
}
