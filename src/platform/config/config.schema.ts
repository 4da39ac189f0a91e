import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';

/**
 * The one configuration schema: every environment variable the service reads is declared here once,
 * with its default (which runs the embedded setup), its parser and whether it is sensitive.
 * Sensitive values are never logged; `describeConfig` masks them.
 */

export type NodeEnv = 'development' | 'production' | 'test';
export type AppRole = 'api' | 'worker' | 'all';
export type QueueDriver = 'pgboss' | 'bullmq';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

interface VariableSpec<T> {
  /** What the variable means, for .env.example and the README table. */
  description: string;
  sensitive?: boolean;
  /** Default for an unset or empty variable; may depend on NODE_ENV. */
  fallback: (nodeEnv: NodeEnv) => T;
  parse: (raw: string) => T;
}

function fail(reason: string): never {
  // The variable name is attached by the caller, which knows it.
  throw new TypeError(reason);
}

function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^-?\d+$/.test(raw)) fail(`must be an integer between ${min} and ${max}`);
    const value = Number(raw);
    if (value < min || value > max) fail(`must be an integer between ${min} and ${max}`);
    return value;
  };
}

function oneOf<T extends string>(...allowed: readonly T[]) {
  return (raw: string): T => {
    if (!(allowed as readonly string[]).includes(raw)) fail(`must be one of ${allowed.join(', ')}`);
    return raw as T;
  };
}

function url(...protocols: readonly string[]) {
  return (raw: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      fail(`must be a URL (${protocols.map((p) => `${p}//...`).join(' or ')})`);
    }
    if (!protocols.includes(parsed.protocol)) fail(`must use ${protocols.join(' or ')}`);
    return raw;
  };
}

function brokerList(raw: string): string[] {
  const brokers = raw.split(',').map((item) => item.trim());
  for (const broker of brokers) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(broker)) fail('must be a comma-separated list of host:port');
  }
  return brokers;
}

/**
 * TRUST_PROXY: which peers may set X-Forwarded-For (and so the client IP that rate limits and the
 * audit log see). `false` trusts none, a number trusts that many hops, a list trusts those addresses
 * and CIDR ranges. `true` (trust any peer) is refused: anyone could then pick their own IP.
 */
function trustProxy(raw: string): false | number | string[] {
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  if (/^\d{1,2}$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((item) => item.trim());
  for (const entry of entries) {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (family === 0 || !prefixOk || rest.length > 0) {
      fail('must be false, a hop count (1-99), or a comma-separated list of IP addresses and CIDR ranges');
    }
  }
  return entries;
}

function bool(raw: string): boolean {
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  return fail('must be true or false');
}

/** One Ed25519 private key as a JWK, as AUTH_SIGNING_KEYS lists them. */
export interface SigningKeyJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  kid: string;
  /** Public key, base64url. */
  x: string;
  /** Private key, base64url. */
  d: string;
}

const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;
const KID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * AUTH_SIGNING_KEYS: a JSON array of Ed25519 private JWKs, newest first. The first key signs; every
 * key verifies, so a rotated-out key keeps its tokens valid until they expire.
 */
function signingKeys(raw: string): SigningKeyJwk[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    fail('must be a JSON array of Ed25519 private JWKs');
  }
  if (!Array.isArray(parsed) || parsed.length === 0) fail('must be a non-empty JSON array of Ed25519 private JWKs');
  const keys: SigningKeyJwk[] = [];
  for (const item of parsed as unknown[]) {
    const key = item as Partial<Record<keyof SigningKeyJwk, unknown>> | null;
    if (
      typeof key !== 'object' ||
      key === null ||
      key.kty !== 'OKP' ||
      key.crv !== 'Ed25519' ||
      typeof key.kid !== 'string' ||
      !KID.test(key.kid) ||
      typeof key.x !== 'string' ||
      !BASE64URL_32_BYTES.test(key.x) ||
      typeof key.d !== 'string' ||
      !BASE64URL_32_BYTES.test(key.d)
    ) {
      fail('must list JWKs with kty "OKP", crv "Ed25519", kid ([A-Za-z0-9._-]{1,64}), x and d');
    }
    if (keys.some((other) => other.kid === key.kid)) fail('must not repeat a kid');
    keys.push({ kty: 'OKP', crv: 'Ed25519', kid: key.kid, x: key.x, d: key.d });
  }
  return keys;
}

/**
 * Password hashing is the one CPU-bound step a client can trigger at will (login, sign-up). Bounding it
 * below the core count leaves a core for every other request during a login storm. Hashes run on
 * threads of their own (ADR 0016), so libuv's pool stays free for file and DNS work whatever the bound.
 */
function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** A secret of at least 256 bits, given as base64url or hex text of 32+ bytes. */
function secret(raw: string): string {
  if (!/^[A-Za-z0-9_=+/-]{43,}$/.test(raw)) fail('must be at least 43 characters of base64url (32 random bytes or more)');
  return raw;
}

function email(raw: string): string {
  if (raw.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(raw)) fail('must be an email address');
  return raw;
}

function host(raw: string): string {
  if (!/^[A-Za-z0-9.:-]+$/.test(raw)) fail('must be a host name or IP address');
  return raw;
}

const spec = {
  NODE_ENV: {
    description: '`production` changes defaults: HOST 0.0.0.0, no migrate-on-start, a 5 s readiness drain',
    fallback: (): NodeEnv => 'development',
    parse: oneOf<NodeEnv>('development', 'production', 'test'),
  },
  PORT: {
    description: 'HTTP listener port (0 picks a free port)',
    fallback: () => 3000,
    parse: integer(0, 65535),
  },
  HOST: {
    description: 'HTTP listener address: 127.0.0.1 in development, 0.0.0.0 in production',
    fallback: (env) => (env === 'production' ? '0.0.0.0' : '127.0.0.1'),
    parse: host,
  },
  TRUST_PROXY: {
    description:
      'peers allowed to set X-Forwarded-For: false (none), a hop count, or a comma-separated list of IPs and CIDR ranges (the load balancer)',
    fallback: (): false | number | string[] => false,
    parse: trustProxy,
  },
  GRPC_PORT: {
    description: 'gRPC listener port (0 disables)',
    fallback: () => 50051,
    parse: integer(0, 65535),
  },
  DATA_DIR: {
    description: 'embedded PostgreSQL data, mail files, exports, uploads, generated dev keys',
    fallback: () => '.data',
    parse: (raw) => raw,
  },
  DATABASE_URL: {
    description: 'external PostgreSQL; unset starts an embedded PostgreSQL in DATA_DIR/pg',
    sensitive: true,
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => url('postgres:', 'postgresql:')(raw),
  },
  DATABASE_POOL_SIZE: {
    description: 'connections in the PostgreSQL pool of this process',
    fallback: () => 10,
    parse: integer(1, 200),
  },
  DATABASE_STATEMENT_TIMEOUT_MS: {
    description: 'server-side statement timeout for every pooled connection',
    fallback: () => 15000,
    parse: integer(100, 600000),
  },
  MIGRATE_ON_START: {
    description: 'run pending migrations at boot: true in development, false in production',
    fallback: (env) => env !== 'production',
    parse: bool,
  },
  REDIS_URL: {
    description: 'Redis for L2 cache, rate limits, invalidation, BullMQ; unset keeps all in process',
    sensitive: true,
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => url('redis:', 'rediss:')(raw),
  },
  CACHE_KEY_PREFIX: {
    description: 'prefix of every cache key and of the invalidation channel in Redis (one per deployment sharing a Redis)',
    fallback: () => 'groundwork:cache',
    parse: (raw: string): string => {
      if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(raw)) fail('must be 1-64 characters of A-Z a-z 0-9 : _ . -');
      return raw;
    },
  },
  CACHE_TTL_SECONDS: {
    description: 'how long a cached value lives in Redis (L2) unless the caller says otherwise',
    fallback: () => 300,
    parse: integer(1, 86_400),
  },
  CACHE_NEGATIVE_TTL_SECONDS: {
    description: 'how long a "not found" answer is cached, so lookups of missing rows do not all reach the database',
    fallback: () => 15,
    parse: integer(0, 3600),
  },
  CACHE_L1_TTL_SECONDS: {
    description: 'how long a value lives in the in-process LRU (L1); bounds staleness if an invalidation message is lost',
    fallback: () => 30,
    parse: integer(1, 3600),
  },
  CACHE_L1_MAX_ENTRIES: {
    description: 'most entries the in-process LRU (L1) holds',
    fallback: () => 10_000,
    parse: integer(1, 10_000_000),
  },
  CACHE_L1_MAX_BYTES: {
    description: 'most bytes (serialized size) the in-process LRU (L1) holds',
    fallback: () => 67_108_864,
    parse: integer(1024, 17_179_869_184),
  },
  CACHE_LOCK_TTL_MS: {
    description: 'expiry of the Redis lock one replica holds while it loads a missing value (stampede protection)',
    fallback: () => 5000,
    parse: integer(100, 60_000),
  },
  CACHE_LOCK_WAIT_MS: {
    description: 'how long other replicas wait for the lock holder\'s value before loading it themselves',
    fallback: () => 1000,
    parse: integer(0, 30_000),
  },
  CACHE_REDIS_TIMEOUT_MS: {
    description: 'a Redis cache command slower than this counts as a failure and the request goes on without L2',
    fallback: () => 250,
    parse: integer(10, 10_000),
  },
  CACHE_BREAKER_THRESHOLD: {
    description: 'consecutive Redis cache failures that open the circuit breaker (Redis is then skipped)',
    fallback: () => 5,
    parse: integer(1, 1000),
  },
  CACHE_BREAKER_HALF_OPEN_MS: {
    description: 'how long the open circuit breaker skips Redis before letting one trial command through',
    fallback: () => 5000,
    parse: integer(100, 600_000),
  },
  QUEUE_DRIVER: {
    description: '`pgboss` or `bullmq` (needs REDIS_URL)',
    fallback: (): QueueDriver => 'pgboss',
    parse: oneOf<QueueDriver>('pgboss', 'bullmq'),
  },
  KAFKA_BROKERS: {
    description: 'comma-separated Kafka bootstrap servers; unset delivers events in process',
    fallback: (): string[] | undefined => undefined,
    parse: (raw: string): string[] | undefined => brokerList(raw),
  },
  KAFKA_TOPIC_PREFIX: {
    description: 'prefix of every Kafka topic and consumer group name (topic = prefix + aggregate type)',
    fallback: (): string => 'groundwork.',
    parse: (raw: string): string => {
      if (!/^[A-Za-z0-9._-]{1,100}$/.test(raw)) fail('must be 1 to 100 characters of A-Z a-z 0-9 . _ -');
      return raw;
    },
  },
  EVENTS_RELAY_BATCH_SIZE: {
    description: 'outbox rows the relay publishes per batch',
    fallback: (): number => 1000,
    parse: integer(1, 10_000),
  },
  EVENTS_RELAY_POLL_MS: {
    description: 'relay polling interval when no NOTIFY arrives, and how often a standby relay tries to take over',
    fallback: (): number => 1000,
    parse: integer(20, 60_000),
  },
  EVENTS_HANDLER_MAX_ATTEMPTS: {
    description: 'attempts of an event handler before the event is dead-lettered',
    fallback: (): number => 5,
    parse: integer(1, 100),
  },
  EVENTS_HANDLER_RETRY_BASE_MS: {
    description: 'base delay of the exponential backoff between handler attempts',
    fallback: (): number => 200,
    parse: integer(1, 60_000),
  },
  EVENTS_OUTBOX_RETENTION_HOURS: {
    description: 'how long published outbox rows (and inbox rows) are kept before they are purged',
    fallback: (): number => 24,
    parse: integer(1, 8760),
  },
  SMTP_URL: {
    description: 'SMTP server; unset writes emails as .eml files under DATA_DIR/mail',
    sensitive: true,
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => url('smtp:', 'smtps:')(raw),
  },
  MAIL_FROM: {
    description: 'sender address of every email the service sends',
    fallback: () => 'Groundwork <no-reply@groundwork.local>',
    parse: (raw: string): string => raw,
  },
  PUBLIC_URL: {
    description: 'base URL users reach the service at; links in emails (verify-email) start with it',
    fallback: () => 'http://localhost:3000',
    parse: (raw: string): string => url('http:', 'https:')(raw).replace(/\/+$/, ''),
  },
  MAIL_RATE_PER_SECOND: {
    description: 'most campaign emails sent per second by one worker (bulk sends go in batches of 100)',
    fallback: () => 50,
    parse: integer(1, 10_000),
  },
  JOB_HEARTBEAT_SECONDS: {
    description: 'a job whose worker stops signalling (killed, frozen) is retried after this many seconds',
    fallback: () => 30,
    parse: integer(10, 3600),
  },
  BULLMQ_PREFIX: {
    description: 'prefix of every Redis key BullMQ writes (QUEUE_DRIVER=bullmq)',
    fallback: () => 'groundwork',
    parse: (raw: string): string => {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) fail('must be 1-64 characters of A-Z a-z 0-9 _ . -');
      return raw;
    },
  },
  VERIFY_EMAIL_TOKEN_TTL_SECONDS: {
    description: 'how long an email verification link stays valid',
    fallback: () => 86_400,
    parse: integer(60, 2_592_000),
  },
  CLAMD_URL: {
    description: 'tcp://host:port of clamd; unset turns scanning off',
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => url('tcp:')(raw),
  },
  APP_ROLE: {
    description: '`api` (HTTP + gRPC), `worker` (jobs, relay, consumers) or `all`',
    fallback: (): AppRole => 'all',
    parse: oneOf<AppRole>('api', 'worker', 'all'),
  },
  LOG_LEVEL: {
    description: 'pino log level',
    fallback: (): LogLevel => 'info',
    parse: oneOf<LogLevel>('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    description: 'OTLP collector (Jaeger, Tempo, ...); unset turns tracing off',
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => url('http:', 'https:')(raw),
  },
  BODY_LIMIT_BYTES: {
    description: 'largest accepted request body (JSON) in bytes',
    fallback: () => 1_048_576,
    parse: integer(1024, 104_857_600),
  },
  SHUTDOWN_GRACE_MS: {
    description: 'how long in-flight requests may take to finish after SIGTERM',
    fallback: () => 10_000,
    parse: integer(0, 120_000),
  },
  READINESS_DRAIN_MS: {
    description: 'how long /health/ready answers 503 before the listener closes, so load balancers notice',
    fallback: (env) => (env === 'production' ? 5_000 : 0),
    parse: integer(0, 60_000),
  },
  HTTP_CLIENT_TIMEOUT_MS: {
    description: 'default per-attempt timeout of outbound HTTP calls (a downstream client may set its own)',
    fallback: () => 5_000,
    parse: integer(50, 300_000),
  },
  HTTP_CLIENT_MAX_ATTEMPTS: {
    description: 'attempts per outbound HTTP call, the first included, for calls that are safe to repeat (1 disables retries)',
    fallback: () => 3,
    parse: integer(1, 10),
  },
  HTTP_CLIENT_MAX_RETRY_AFTER_MS: {
    description: 'longest Retry-After an outbound call waits before retrying; a downstream asking for longer fails the call',
    fallback: () => 10_000,
    parse: integer(0, 300_000),
  },
  HTTP_CLIENT_BREAKER_HALF_OPEN_MS: {
    description: 'how long a downstream\'s open circuit breaker fails calls fast before it lets one probe through',
    fallback: () => 10_000,
    parse: integer(100, 600_000),
  },
  AUTH_ISSUER: {
    description: 'the `iss` claim of access tokens this service signs and accepts',
    fallback: () => 'groundwork',
    parse: (raw: string): string => raw,
  },
  AUTH_AUDIENCE: {
    description: 'the `aud` claim of access tokens this service signs and accepts',
    fallback: () => 'groundwork-api',
    parse: (raw: string): string => raw,
  },
  AUTH_ACCESS_TOKEN_TTL_SECONDS: {
    description: 'lifetime of an access token (JWT) in seconds',
    fallback: () => 900,
    parse: integer(60, 3600),
  },
  AUTH_REFRESH_TOKEN_TTL_SECONDS: {
    description: 'absolute lifetime of a refresh token family (a login session) in seconds',
    fallback: () => 2_592_000,
    parse: integer(300, 31_536_000),
  },
  AUTH_REFRESH_TOKEN_IDLE_SECONDS: {
    description: 'sliding lifetime: a refresh token unused for this long expires',
    fallback: () => 604_800,
    parse: integer(300, 31_536_000),
  },
  AUTH_REFRESH_GRACE_SECONDS: {
    description: 'how long a just-rotated refresh token still returns the same child (client retries)',
    fallback: () => 10,
    parse: integer(0, 120),
  },
  AUTH_SIGNING_KEYS: {
    description: 'JSON array of Ed25519 private JWKs (kty, crv, kid, x, d), newest first; unset generates DATA_DIR/keys outside production',
    sensitive: true,
    fallback: (): SigningKeyJwk[] | undefined => undefined,
    parse: (raw: string): SigningKeyJwk[] | undefined => signingKeys(raw),
  },
  AUTH_REFRESH_TOKEN_SECRET: {
    description: 'HMAC key (32+ random bytes, base64url) deriving rotated refresh tokens; unset generates DATA_DIR/keys outside production',
    sensitive: true,
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => secret(raw),
  },
  AUTH_ARGON2_MEMORY_KIB: {
    description: 'argon2id memory cost in KiB (OWASP minimum 19456)',
    fallback: () => 19_456,
    parse: integer(19_456, 4_194_304),
  },
  AUTH_ARGON2_TIME_COST: {
    description: 'argon2id iterations (OWASP minimum 2 at 19 MiB)',
    fallback: () => 2,
    parse: integer(2, 20),
  },
  AUTH_ARGON2_PARALLELISM: {
    description: 'argon2id lanes',
    fallback: () => 1,
    parse: integer(1, 16),
  },
  AUTH_HASH_CONCURRENCY: {
    description:
      'argon2id hashes computed at once, each on a thread of its own, the rest wait their turn; default: CPU cores minus one, at least 1',
    fallback: () => defaultHashConcurrency(),
    parse: integer(1, 64),
  },
  AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT: {
    description: 'failed logins for one email within AUTH_LOGIN_WINDOW_SECONDS before it is locked (429)',
    fallback: () => 10,
    parse: integer(1, 1000),
  },
  AUTH_LOGIN_MAX_FAILURES_PER_IP: {
    description: 'failed logins from one IP within AUTH_LOGIN_WINDOW_SECONDS before it is locked (429)',
    fallback: () => 100,
    parse: integer(1, 100_000),
  },
  AUTH_LOGIN_WINDOW_SECONDS: {
    description: 'window over which failed logins are counted, and how long a lockout lasts',
    fallback: () => 900,
    parse: integer(1, 86_400),
  },
  AUTH_REGISTER_MAX_PER_IP: {
    description: 'sign-up attempts from one IP within AUTH_REGISTER_WINDOW_SECONDS before further ones get 429',
    fallback: () => 20,
    parse: integer(1, 100_000),
  },
  AUTH_REGISTER_WINDOW_SECONDS: {
    description: 'window over which sign-up attempts per IP are counted',
    fallback: () => 3600,
    parse: integer(1, 86_400),
  },
  ADMIN_EMAIL: {
    description: 'outside production, creates or promotes this admin of the default organization at start (with ADMIN_PASSWORD)',
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => email(raw),
  },
  ADMIN_PASSWORD: {
    description: 'password of ADMIN_EMAIL when it is created at start',
    sensitive: true,
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => raw,
  },
  PAYMENT_PROVIDER_URL: {
    description: 'base URL of the payment provider; unset in development starts the bundled payment-provider server on a free port',
    sensitive: true,
    fallback: (): string | undefined => undefined,
    parse: (raw: string): string | undefined => url('http:', 'https:')(raw),
  },
  PAYMENT_PROVIDER_TIMEOUT_MS: {
    description: 'per-call timeout of requests to the payment provider (each retry gets its own)',
    fallback: () => 5_000,
    parse: integer(50, 120_000),
  },
  SAGA_LEASE_MS: {
    description: 'how long a process owns an order saga it drives; a crashed owner\'s sagas are resumed after it lapses',
    fallback: () => 30_000,
    parse: integer(500, 3_600_000),
  },
  SAGA_RECOVERY_INTERVAL_MS: {
    description: 'how often the worker role looks for unfinished order sagas whose lease lapsed (also once at start)',
    fallback: () => 5_000,
    parse: integer(50, 3_600_000),
  },
} satisfies Record<string, VariableSpec<unknown>>;

type Spec = typeof spec;
export type ConfigVariable = keyof Spec;
export type AppConfig = { readonly [K in ConfigVariable]: ReturnType<Spec[K]['fallback']> };

export const configVariables: ReadonlyArray<{
  name: ConfigVariable;
  description: string;
  sensitive: boolean;
}> = (Object.keys(spec) as ConfigVariable[]).map((name) => ({
  name,
  description: spec[name].description,
  sensitive: 'sensitive' in spec[name] && spec[name].sensitive === true,
}));

/** Parses and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  const read = (name: ConfigVariable): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const parseOne = <K extends ConfigVariable>(name: K, nodeEnv: NodeEnv): AppConfig[K] => {
    const raw = read(name);
    const variable = spec[name] as VariableSpec<AppConfig[K]>;
    if (raw === undefined) return variable.fallback(nodeEnv);
    try {
      return variable.parse(raw);
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'is invalid';
      // Sensitive values are not echoed back, even in a boot error. Others are echoed JSON-quoted so
      // a value with a newline or control character cannot break the one-line boot error.
      const shown = configVariables.find((v) => v.name === name)?.sensitive ? '' : ` (got ${JSON.stringify(raw)})`;
      throw new ConfigError(name, `${reason}${shown}`);
    }
  };

  const nodeEnv = parseOne('NODE_ENV', 'development');
  const config = {} as Record<ConfigVariable, unknown>;
  for (const name of Object.keys(spec) as ConfigVariable[]) {
    config[name] = parseOne(name, nodeEnv);
  }
  const typed = config as AppConfig;
  if (typed.QUEUE_DRIVER === 'bullmq' && typed.REDIS_URL === undefined) {
    throw new ConfigError('QUEUE_DRIVER', 'is bullmq, which needs REDIS_URL to be set');
  }
  if ((typed.ADMIN_EMAIL === undefined) !== (typed.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError(typed.ADMIN_EMAIL === undefined ? 'ADMIN_EMAIL' : 'ADMIN_PASSWORD', 'must be set together with ADMIN_EMAIL and ADMIN_PASSWORD');
  }
  if (typed.AUTH_REFRESH_TOKEN_IDLE_SECONDS > typed.AUTH_REFRESH_TOKEN_TTL_SECONDS) {
    throw new ConfigError('AUTH_REFRESH_TOKEN_IDLE_SECONDS', 'must not exceed AUTH_REFRESH_TOKEN_TTL_SECONDS');
  }
  return Object.freeze(typed);
}

/** The configuration as it may be logged: sensitive values masked, unset ones omitted. */
export function describeConfig(config: AppConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const { name, sensitive } of configVariables) {
    const value = config[name];
    if (value === undefined) continue;
    shown[name] = sensitive ? '[redacted]' : value;
  }
  return shown;
}

export const APP_CONFIG = Symbol('APP_CONFIG');
