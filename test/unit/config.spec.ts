import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, configVariables, describeConfig, loadConfig } from '../../src/platform/config/config.schema.js';

/** Runs loadConfig and returns the ConfigError it throws; fails the test if it does not throw one. */
function configErrorFor(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

// Shapes only: these values are not a usable key pair, and the config checks shape, not the curve.
const SIGNING_KEY = { kty: 'OKP', crv: 'Ed25519', kid: '2026-11-29-a', x: 'x'.repeat(43), d: 'd'.repeat(43) };
const REFRESH_SECRET = 'r'.repeat(43);

const DEVELOPMENT_DEFAULTS = {
  NODE_ENV: 'development',
  PORT: 3000,
  HOST: '127.0.0.1',
  GRPC_PORT: 50051,
  TRUST_PROXY: false,
  DATA_DIR: '.data',
  DATABASE_URL: undefined,
  DATABASE_POOL_SIZE: 10,
  DATABASE_STATEMENT_TIMEOUT_MS: 15000,
  MIGRATE_ON_START: true,
  REDIS_URL: undefined,
  CACHE_KEY_PREFIX: 'groundwork:cache',
  CACHE_TTL_SECONDS: 300,
  CACHE_NEGATIVE_TTL_SECONDS: 15,
  CACHE_L1_TTL_SECONDS: 30,
  CACHE_L1_MAX_ENTRIES: 10_000,
  CACHE_L1_MAX_BYTES: 67_108_864,
  CACHE_LOCK_TTL_MS: 5000,
  CACHE_LOCK_WAIT_MS: 1000,
  CACHE_REDIS_TIMEOUT_MS: 250,
  CACHE_BREAKER_THRESHOLD: 5,
  CACHE_BREAKER_HALF_OPEN_MS: 5000,
  QUEUE_DRIVER: 'pgboss',
  KAFKA_BROKERS: undefined,
  KAFKA_TOPIC_PREFIX: 'groundwork.',
  EVENTS_RELAY_BATCH_SIZE: 1000,
  EVENTS_RELAY_POLL_MS: 1000,
  EVENTS_HANDLER_MAX_ATTEMPTS: 5,
  EVENTS_HANDLER_RETRY_BASE_MS: 200,
  EVENTS_OUTBOX_RETENTION_HOURS: 24,
  SMTP_URL: undefined,
  MAIL_FROM: 'Groundwork <no-reply@groundwork.local>',
  PUBLIC_URL: 'http://localhost:3000',
  MAIL_RATE_PER_SECOND: 50,
  JOB_HEARTBEAT_SECONDS: 30,
  BULLMQ_PREFIX: 'groundwork',
  VERIFY_EMAIL_TOKEN_TTL_SECONDS: 86400,
  CLAMD_URL: undefined,
  APP_ROLE: 'all',
  LOG_LEVEL: 'info',
  OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
  BODY_LIMIT_BYTES: 1_048_576,
  SHUTDOWN_GRACE_MS: 10_000,
  READINESS_DRAIN_MS: 0,
  HTTP_CLIENT_TIMEOUT_MS: 5_000,
  HTTP_CLIENT_MAX_ATTEMPTS: 3,
  HTTP_CLIENT_MAX_RETRY_AFTER_MS: 10_000,
  HTTP_CLIENT_BREAKER_HALF_OPEN_MS: 10_000,
  AUTH_ISSUER: 'groundwork',
  AUTH_AUDIENCE: 'groundwork-api',
  AUTH_ACCESS_TOKEN_TTL_SECONDS: 900,
  AUTH_REFRESH_TOKEN_TTL_SECONDS: 2_592_000,
  AUTH_REFRESH_TOKEN_IDLE_SECONDS: 604_800,
  AUTH_REFRESH_GRACE_SECONDS: 10,
  AUTH_SIGNING_KEYS: undefined,
  AUTH_REFRESH_TOKEN_SECRET: undefined,
  AUTH_ARGON2_MEMORY_KIB: 19_456,
  AUTH_ARGON2_TIME_COST: 2,
  AUTH_ARGON2_PARALLELISM: 1,
  // Depends on the machine's cores; its own test below pins the rule.
  AUTH_HASH_CONCURRENCY: expect.any(Number) as number,
  AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT: 10,
  AUTH_LOGIN_MAX_FAILURES_PER_IP: 100,
  AUTH_LOGIN_WINDOW_SECONDS: 900,
  AUTH_REGISTER_MAX_PER_IP: 20,
  AUTH_REGISTER_WINDOW_SECONDS: 3600,
  ADMIN_EMAIL: undefined,
  ADMIN_PASSWORD: undefined,
  PAYMENT_PROVIDER_URL: undefined,
  PAYMENT_PROVIDER_TIMEOUT_MS: 5000,
  SAGA_LEASE_MS: 30_000,
  SAGA_RECOVERY_INTERVAL_MS: 5000,
};

describe('loadConfig defaults', () => {
  it('declares exactly the variables this test knows the defaults of', () => {
    // A new variable must come with its default asserted here.
    expect(configVariables.map((v) => v.name).sort()).toEqual(Object.keys(DEVELOPMENT_DEFAULTS).sort());
  });

  it('runs the embedded development setup with no environment at all', () => {
    expect({ ...loadConfig({}) }).toEqual(DEVELOPMENT_DEFAULTS);
    // toEqual treats a missing key like undefined; the unset optional services are really unset.
    const config = loadConfig({});
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS', 'SMTP_URL', 'CLAMD_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const) {
      expect(config[name], name).toBeUndefined();
    }
  });

  it('switches the environment-dependent defaults in production', () => {
    expect({ ...loadConfig({ NODE_ENV: 'production' }) }).toEqual({
      ...DEVELOPMENT_DEFAULTS,
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      MIGRATE_ON_START: false,
      READINESS_DRAIN_MS: 5000,
    });
  });

  it('keeps the development defaults for NODE_ENV=test', () => {
    expect({ ...loadConfig({ NODE_ENV: 'test' }) }).toEqual({ ...DEVELOPMENT_DEFAULTS, NODE_ENV: 'test' });
  });

  it('treats empty and blank values as unset', () => {
    expect({ ...loadConfig({ PORT: '', HOST: '   ', DATABASE_URL: '', KAFKA_BROKERS: ' ' }) }).toEqual(DEVELOPMENT_DEFAULTS);
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });
});

describe('loadConfig parsing of good values', () => {
  it('parses every variable from its string form', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: ' 8080 ',
      HOST: '::1',
      GRPC_PORT: '0',
      TRUST_PROXY: '10.0.0.0/8',
      DATA_DIR: '/var/lib/groundwork',
      DATABASE_URL: 'postgresql://app:pw@db.internal:5432/groundwork',
      DATABASE_POOL_SIZE: '25',
      DATABASE_STATEMENT_TIMEOUT_MS: '5000',
      MIGRATE_ON_START: 'YES',
      REDIS_URL: 'rediss://cache:6380/0',
      CACHE_KEY_PREFIX: 'shop-prod:cache',
      CACHE_TTL_SECONDS: '600',
      CACHE_NEGATIVE_TTL_SECONDS: '0',
      CACHE_L1_TTL_SECONDS: '10',
      CACHE_L1_MAX_ENTRIES: '50000',
      CACHE_L1_MAX_BYTES: '1048576',
      CACHE_LOCK_TTL_MS: '2000',
      CACHE_LOCK_WAIT_MS: '0',
      CACHE_REDIS_TIMEOUT_MS: '100',
      CACHE_BREAKER_THRESHOLD: '3',
      CACHE_BREAKER_HALF_OPEN_MS: '1000',
      QUEUE_DRIVER: 'bullmq',
      KAFKA_BROKERS: 'kafka-1:9092, kafka-2.internal:9093',
      KAFKA_TOPIC_PREFIX: 'shop-',
      EVENTS_RELAY_BATCH_SIZE: '200',
      EVENTS_RELAY_POLL_MS: '250',
      EVENTS_HANDLER_MAX_ATTEMPTS: '8',
      EVENTS_HANDLER_RETRY_BASE_MS: '50',
      EVENTS_OUTBOX_RETENTION_HOURS: '72',
      SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
      MAIL_FROM: 'Acme <no-reply@acme.example>',
      PUBLIC_URL: 'https://app.acme.example/',
      MAIL_RATE_PER_SECOND: '10',
      JOB_HEARTBEAT_SECONDS: '60',
      BULLMQ_PREFIX: 'acme',
      VERIFY_EMAIL_TOKEN_TTL_SECONDS: '3600',
      CLAMD_URL: 'tcp://clamd:3310',
      APP_ROLE: 'worker',
      LOG_LEVEL: 'debug',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      BODY_LIMIT_BYTES: '2048',
      SHUTDOWN_GRACE_MS: '0',
      READINESS_DRAIN_MS: '60000',
      HTTP_CLIENT_TIMEOUT_MS: '250',
      HTTP_CLIENT_MAX_ATTEMPTS: '1',
      HTTP_CLIENT_MAX_RETRY_AFTER_MS: '0',
      HTTP_CLIENT_BREAKER_HALF_OPEN_MS: '600000',
      AUTH_ISSUER: 'https://auth.example.com',
      AUTH_AUDIENCE: 'example-api',
      AUTH_ACCESS_TOKEN_TTL_SECONDS: '300',
      AUTH_REFRESH_TOKEN_TTL_SECONDS: '86400',
      AUTH_REFRESH_TOKEN_IDLE_SECONDS: '3600',
      AUTH_REFRESH_GRACE_SECONDS: '0',
      AUTH_SIGNING_KEYS: JSON.stringify([SIGNING_KEY]),
      AUTH_REFRESH_TOKEN_SECRET: REFRESH_SECRET,
      AUTH_ARGON2_MEMORY_KIB: '65536',
      AUTH_ARGON2_TIME_COST: '3',
      AUTH_ARGON2_PARALLELISM: '2',
      AUTH_HASH_CONCURRENCY: '3',
      AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT: '5',
      AUTH_LOGIN_MAX_FAILURES_PER_IP: '50',
      AUTH_LOGIN_WINDOW_SECONDS: '600',
      AUTH_REGISTER_MAX_PER_IP: '50',
      AUTH_REGISTER_WINDOW_SECONDS: '120',
      ADMIN_EMAIL: 'admin@example.com',
      ADMIN_PASSWORD: 'an admin password',
      PAYMENT_PROVIDER_URL: 'https://payments.internal/v1',
      PAYMENT_PROVIDER_TIMEOUT_MS: '750',
      SAGA_LEASE_MS: '10000',
      SAGA_RECOVERY_INTERVAL_MS: '1000',
    });
    expect({ ...config }).toEqual({
      NODE_ENV: 'production',
      PORT: 8080,
      HOST: '::1',
      GRPC_PORT: 0,
      TRUST_PROXY: ['10.0.0.0/8'],
      DATA_DIR: '/var/lib/groundwork',
      DATABASE_URL: 'postgresql://app:pw@db.internal:5432/groundwork',
      DATABASE_POOL_SIZE: 25,
      DATABASE_STATEMENT_TIMEOUT_MS: 5000,
      MIGRATE_ON_START: true,
      REDIS_URL: 'rediss://cache:6380/0',
      CACHE_KEY_PREFIX: 'shop-prod:cache',
      CACHE_TTL_SECONDS: 600,
      CACHE_NEGATIVE_TTL_SECONDS: 0,
      CACHE_L1_TTL_SECONDS: 10,
      CACHE_L1_MAX_ENTRIES: 50000,
      CACHE_L1_MAX_BYTES: 1048576,
      CACHE_LOCK_TTL_MS: 2000,
      CACHE_LOCK_WAIT_MS: 0,
      CACHE_REDIS_TIMEOUT_MS: 100,
      CACHE_BREAKER_THRESHOLD: 3,
      CACHE_BREAKER_HALF_OPEN_MS: 1000,
      QUEUE_DRIVER: 'bullmq',
      KAFKA_BROKERS: ['kafka-1:9092', 'kafka-2.internal:9093'],
      KAFKA_TOPIC_PREFIX: 'shop-',
      EVENTS_RELAY_BATCH_SIZE: 200,
      EVENTS_RELAY_POLL_MS: 250,
      EVENTS_HANDLER_MAX_ATTEMPTS: 8,
      EVENTS_HANDLER_RETRY_BASE_MS: 50,
      EVENTS_OUTBOX_RETENTION_HOURS: 72,
      SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
      MAIL_FROM: 'Acme <no-reply@acme.example>',
      PUBLIC_URL: 'https://app.acme.example',
      MAIL_RATE_PER_SECOND: 10,
      JOB_HEARTBEAT_SECONDS: 60,
      BULLMQ_PREFIX: 'acme',
      VERIFY_EMAIL_TOKEN_TTL_SECONDS: 3600,
      CLAMD_URL: 'tcp://clamd:3310',
      APP_ROLE: 'worker',
      LOG_LEVEL: 'debug',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      BODY_LIMIT_BYTES: 2048,
      SHUTDOWN_GRACE_MS: 0,
      READINESS_DRAIN_MS: 60000,
      HTTP_CLIENT_TIMEOUT_MS: 250,
      HTTP_CLIENT_MAX_ATTEMPTS: 1,
      HTTP_CLIENT_MAX_RETRY_AFTER_MS: 0,
      HTTP_CLIENT_BREAKER_HALF_OPEN_MS: 600000,
      AUTH_ISSUER: 'https://auth.example.com',
      AUTH_AUDIENCE: 'example-api',
      AUTH_ACCESS_TOKEN_TTL_SECONDS: 300,
      AUTH_REFRESH_TOKEN_TTL_SECONDS: 86400,
      AUTH_REFRESH_TOKEN_IDLE_SECONDS: 3600,
      AUTH_REFRESH_GRACE_SECONDS: 0,
      AUTH_SIGNING_KEYS: [SIGNING_KEY],
      AUTH_REFRESH_TOKEN_SECRET: REFRESH_SECRET,
      AUTH_ARGON2_MEMORY_KIB: 65536,
      AUTH_ARGON2_TIME_COST: 3,
      AUTH_ARGON2_PARALLELISM: 2,
      AUTH_HASH_CONCURRENCY: 3,
      AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT: 5,
      AUTH_LOGIN_MAX_FAILURES_PER_IP: 50,
      AUTH_LOGIN_WINDOW_SECONDS: 600,
      AUTH_REGISTER_MAX_PER_IP: 50,
      AUTH_REGISTER_WINDOW_SECONDS: 120,
      ADMIN_EMAIL: 'admin@example.com',
      ADMIN_PASSWORD: 'an admin password',
      PAYMENT_PROVIDER_URL: 'https://payments.internal/v1',
      PAYMENT_PROVIDER_TIMEOUT_MS: 750,
      SAGA_LEASE_MS: 10000,
      SAGA_RECOVERY_INTERVAL_MS: 1000,
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['FALSE', false],
    ['0', false],
    ['no', false],
  ])('reads MIGRATE_ON_START=%s as %s', (raw, expected) => {
    expect(loadConfig({ MIGRATE_ON_START: raw }).MIGRATE_ON_START).toBe(expected);
  });

  it('accepts the bounds of integer ranges', () => {
    expect(loadConfig({ PORT: '0' }).PORT).toBe(0);
    expect(loadConfig({ PORT: '65535' }).PORT).toBe(65535);
    expect(loadConfig({ DATABASE_POOL_SIZE: '1' }).DATABASE_POOL_SIZE).toBe(1);
    expect(loadConfig({ DATABASE_POOL_SIZE: '200' }).DATABASE_POOL_SIZE).toBe(200);
  });

  it('bounds password hashing below the core count by default, at least 1 (ADR 0016)', () => {
    expect(loadConfig({}).AUTH_HASH_CONCURRENCY).toBe(Math.max(1, availableParallelism() - 1));
  });

  it('reads TRUST_PROXY as none, a hop count or a list of addresses and ranges', () => {
    expect(loadConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,::1, fd00::/8' }).TRUST_PROXY).toEqual(['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8']);
    for (const bad of ['true', '10.0.0.0/33', 'fd00::/129', 'proxy.internal', '10.0.0.1/8/1', '1.2.3']) {
      expect(configErrorFor({ TRUST_PROXY: bad }).variable, bad).toBe('TRUST_PROXY');
    }
  });

  it('accepts bullmq when REDIS_URL is set', () => {
    expect(loadConfig({ QUEUE_DRIVER: 'bullmq', REDIS_URL: 'redis://localhost:6379' }).QUEUE_DRIVER).toBe('bullmq');
  });
});

describe('loadConfig rejects bad values with a ConfigError naming the variable', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['PORT', { PORT: '1e3' }],
    ['PORT', { PORT: '0x50' }],
    ['GRPC_PORT', { GRPC_PORT: '65536' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['NODE_ENV', { NODE_ENV: 'Production' }],
    ['HOST', { HOST: 'my host' }],
    ['HOST', { HOST: 'evil;rm' }],
    ['DATABASE_URL', { DATABASE_URL: 'not-a-url' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://user:pw@db/app' }],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '0' }],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '201' }],
    ['DATABASE_STATEMENT_TIMEOUT_MS', { DATABASE_STATEMENT_TIMEOUT_MS: '99' }],
    ['MIGRATE_ON_START', { MIGRATE_ON_START: 'maybe' }],
    ['REDIS_URL', { REDIS_URL: 'localhost:6379' }],
    ['REDIS_URL', { REDIS_URL: 'http://localhost:6379' }],
    ['CACHE_KEY_PREFIX', { CACHE_KEY_PREFIX: 'has space' }],
    ['CACHE_KEY_PREFIX', { CACHE_KEY_PREFIX: 'x'.repeat(65) }],
    ['CACHE_L1_MAX_ENTRIES', { CACHE_L1_MAX_ENTRIES: '0' }],
    ['CACHE_LOCK_TTL_MS', { CACHE_LOCK_TTL_MS: '99' }],
    ['CACHE_REDIS_TIMEOUT_MS', { CACHE_REDIS_TIMEOUT_MS: 'fast' }],
    ['QUEUE_DRIVER', { QUEUE_DRIVER: 'sqs' }],
    ['QUEUE_DRIVER', { QUEUE_DRIVER: 'bullmq' }],
    ['KAFKA_BROKERS', { KAFKA_BROKERS: 'bad' }],
    ['KAFKA_BROKERS', { KAFKA_BROKERS: 'kafka:9092,' }],
    ['KAFKA_BROKERS', { KAFKA_BROKERS: 'kafka:9092;other:9092' }],
    ['SMTP_URL', { SMTP_URL: 'mail.example.com' }],
    ['SMTP_URL', { SMTP_URL: 'http://mail.example.com' }],
    ['CLAMD_URL', { CLAMD_URL: 'clamd:3310' }],
    ['CLAMD_URL', { CLAMD_URL: 'http://clamd:3310' }],
    ['APP_ROLE', { APP_ROLE: 'web' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', { OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '1023' }],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '104857601' }],
    ['SHUTDOWN_GRACE_MS', { SHUTDOWN_GRACE_MS: '120001' }],
    ['READINESS_DRAIN_MS', { READINESS_DRAIN_MS: 'soon' }],
    ['HTTP_CLIENT_TIMEOUT_MS', { HTTP_CLIENT_TIMEOUT_MS: '10' }],
    ['HTTP_CLIENT_MAX_ATTEMPTS', { HTTP_CLIENT_MAX_ATTEMPTS: '0' }],
    ['HTTP_CLIENT_MAX_RETRY_AFTER_MS', { HTTP_CLIENT_MAX_RETRY_AFTER_MS: '-1' }],
    ['HTTP_CLIENT_BREAKER_HALF_OPEN_MS', { HTTP_CLIENT_BREAKER_HALF_OPEN_MS: '99' }],
    ['AUTH_ACCESS_TOKEN_TTL_SECONDS', { AUTH_ACCESS_TOKEN_TTL_SECONDS: '86400' }],
    ['AUTH_ARGON2_MEMORY_KIB', { AUTH_ARGON2_MEMORY_KIB: '4096' }],
    ['AUTH_ARGON2_TIME_COST', { AUTH_ARGON2_TIME_COST: '1' }],
    ['AUTH_SIGNING_KEYS', { AUTH_SIGNING_KEYS: 'not json' }],
    ['AUTH_SIGNING_KEYS', { AUTH_SIGNING_KEYS: '[]' }],
    ['AUTH_SIGNING_KEYS', { AUTH_SIGNING_KEYS: '[{"kty":"RSA","kid":"a"}]' }],
    ['AUTH_SIGNING_KEYS', { AUTH_SIGNING_KEYS: `[{"kty":"OKP","crv":"Ed25519","kid":"../etc","x":"${'A'.repeat(43)}","d":"${'B'.repeat(43)}"}]` }],
    ['AUTH_REFRESH_TOKEN_SECRET', { AUTH_REFRESH_TOKEN_SECRET: 'short' }],
    ['AUTH_REFRESH_TOKEN_IDLE_SECONDS', { AUTH_REFRESH_TOKEN_TTL_SECONDS: '3600', AUTH_REFRESH_TOKEN_IDLE_SECONDS: '7200' }],
    ['ADMIN_EMAIL', { ADMIN_EMAIL: 'not-an-email', ADMIN_PASSWORD: 'x' }],
    ['ADMIN_PASSWORD', { ADMIN_EMAIL: 'admin@example.com' }],
    ['ADMIN_EMAIL', { ADMIN_PASSWORD: 'a long admin password' }],
  ];

  it.each(cases)('%s: %j', (variable, env) => {
    const error = configErrorFor(env);
    expect(error.variable).toBe(variable);
    expect(error.name).toBe('ConfigError');
    expect(error.message.startsWith(`Invalid configuration: ${variable} `)).toBe(true);
    // main.ts prints the message as the single line of a failed boot.
    expect(error.message).not.toMatch(/[\r\n]/);
  });

  it('says what is wrong and echoes non-sensitive values', () => {
    expect(configErrorFor({ PORT: 'abc' }).message).toBe('Invalid configuration: PORT must be an integer between 0 and 65535 (got "abc")');
    expect(configErrorFor({ NODE_ENV: 'staging' }).message).toBe(
      'Invalid configuration: NODE_ENV must be one of development, production, test (got "staging")',
    );
    expect(configErrorFor({ QUEUE_DRIVER: 'bullmq' }).message).toBe(
      'Invalid configuration: QUEUE_DRIVER is bullmq, which needs REDIS_URL to be set',
    );
  });

  it('keeps the error on one line even when the bad value spans several', () => {
    const error = configErrorFor({ PORT: '80\n81' });
    expect(error.variable).toBe('PORT');
    expect(error.message).not.toMatch(/[\r\n]/);
  });

  it('names the first bad variable when several are bad', () => {
    expect(configErrorFor({ NODE_ENV: 'staging', PORT: 'abc' }).variable).toBe('NODE_ENV');
    expect(configErrorFor({ PORT: 'abc', LOG_LEVEL: 'loud' }).variable).toBe('PORT');
  });
});

describe('sensitive values', () => {
  const SECRET = 'Sup3r-S3cret-Pw';

  it('flags connection strings that can carry credentials, keys and the admin password as sensitive', () => {
    const sensitive = configVariables.filter((v) => v.sensitive).map((v) => v.name).sort();
    expect(sensitive).toEqual(['ADMIN_PASSWORD', 'AUTH_REFRESH_TOKEN_SECRET', 'AUTH_SIGNING_KEYS', 'DATABASE_URL', 'PAYMENT_PROVIDER_URL', 'REDIS_URL', 'SMTP_URL']);
  });

  it.each([
    ['DATABASE_URL', `mysql://admin:${SECRET}@db.internal/app`],
    ['DATABASE_URL', `postgres//admin:${SECRET}@db.internal/app`],
    ['DATABASE_URL', `admin:${SECRET}`],
    ['REDIS_URL', `http://:${SECRET}@cache:6379`],
    ['REDIS_URL', `${SECRET}@cache`],
    ['SMTP_URL', `https://mailer:${SECRET}@smtp.example.com`],
    ['SMTP_URL', `mailer:${SECRET}`],
    ['AUTH_SIGNING_KEYS', `[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"short","d":"${SECRET}"}]`],
    ['AUTH_REFRESH_TOKEN_SECRET', SECRET],
    ['PAYMENT_PROVIDER_URL', `ftp://merchant:${SECRET}@payments.internal`],
  ])('a bad %s is rejected without echoing its value', (variable, value) => {
    const error = configErrorFor({ [variable]: value });
    expect(error.variable).toBe(variable);
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(value);
    expect(String(error.stack)).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);
  });

  it('describeConfig masks sensitive values and omits unset ones', () => {
    const config = loadConfig({
      DATABASE_URL: `postgresql://app:${SECRET}@db.internal:5432/groundwork`,
      REDIS_URL: `redis://:${SECRET}@cache:6379`,
      SMTP_URL: `smtp://mailer:${SECRET}@smtp.example.com:587`,
      KAFKA_BROKERS: 'kafka:9092',
      PORT: '8080',
    });
    const described = describeConfig(config);
    expect(JSON.stringify(described)).not.toContain(SECRET);
    expect(described).toMatchObject({
      DATABASE_URL: '[redacted]',
      REDIS_URL: '[redacted]',
      SMTP_URL: '[redacted]',
      KAFKA_BROKERS: ['kafka:9092'],
      PORT: 8080,
      NODE_ENV: 'development',
    });
    expect(described).not.toHaveProperty('CLAMD_URL');
    expect(described).not.toHaveProperty('OTEL_EXPORTER_OTLP_ENDPOINT');
    // Everything else is shown as configured.
    for (const { name, sensitive } of configVariables) {
      if (!sensitive && config[name] !== undefined) expect(described[name], name).toEqual(config[name]);
    }
  });

  it('describeConfig of the defaults shows no sensitive key at all', () => {
    const described = describeConfig(loadConfig({}));
    expect(Object.keys(described)).not.toContain('DATABASE_URL');
    expect(Object.keys(described).sort()).toEqual(
      Object.entries(DEVELOPMENT_DEFAULTS)
        .filter(([, value]) => value !== undefined)
        .map(([name]) => name)
        .sort(),
    );
  });
});
