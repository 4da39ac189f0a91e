import { describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/platform/security/password-hasher.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, PasswordPolicy } from '../../src/platform/security/password-policy.js';

const policy = new PasswordPolicy();

describe('password policy (ASVS 6.2)', () => {
  it('requires at least 12 characters, counted as code points', () => {
    expect(PASSWORD_MIN_LENGTH).toBe(12);
    expect(policy.check('Zq8#vL2$wK9')).toEqual(['password must be at least 12 characters long']);
    // 11 emoji are 22 UTF-16 units but 11 characters.
    expect(policy.check('🔐'.repeat(11))).toEqual(['password must be at least 12 characters long']);
  });

  it('allows at least 64 characters and refuses more than 128 instead of truncating', () => {
    expect(PASSWORD_MAX_LENGTH).toBeGreaterThanOrEqual(64);
    const long = 'glacier orbit velvet kumquat '.repeat(5).slice(0, 128);
    expect(policy.check(long)).toEqual([]);
    expect(policy.check(`${long}x`)).toEqual(['password must be at most 128 characters long']);
  });

  it('has no composition rules: lowercase words and spaces pass when unguessable', () => {
    expect(policy.check('glacier orbit velvet kumquat')).toEqual([]);
    expect(policy.check('tangerine submarine opera')).toEqual([]);
  });

  it.each(['password1234', 'qwertyuiop12', '123456789012', 'iloveyou2024', 'P@ssw0rd1234', 'aaaaaaaaaaaaaa', 'abcdefghijklmn', 'letmein12345!'])(
    'refuses the common or guessable %s',
    (password) => {
      const problems = policy.check(password);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^password is too easy to guess/);
      expect(problems[0]).not.toContain(password);
    },
  );

  it('refuses passwords containing the email local part or the name', () => {
    expect(policy.check('annabelle-Zq8#vL2$', { email: 'annabelle@example.com' })).toEqual(['password must not contain your email address or name']);
    expect(policy.check('Zq8#vL2$-Rutherford', { name: 'Ernest Rutherford' })).toEqual(['password must not contain your email address or name']);
    expect(policy.check('Zq8#vL2$-wK9@', { email: 'al@example.com', name: 'Al B' })).toEqual([]);
  });
});

describe('password hasher (argon2id)', () => {
  const hasher = new PasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

  it('produces PHC strings at the configured parameters with a fresh salt', async () => {
    const [a, b] = await Promise.all([hasher.hash('glacier orbit velvet'), hasher.hash('glacier orbit velvet')]);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
    expect(await hasher.verify(a, 'glacier orbit velvet')).toBe(true);
    expect(await hasher.verify(a, 'glacier orbit velveT')).toBe(false);
  });

  it('compares passwords in NFKC, so composed and decomposed accents match', async () => {
    const hash = await hasher.hash('caf\u00e9 au lait tous les jours');
    expect(await hasher.verify(hash, 'cafe\u0301 au lait tous les jours')).toBe(true);
  });

  it('does not truncate: a change past the 72nd byte matters', async () => {
    const base = 'x'.repeat(100);
    const hash = await hasher.hash(`${base}a`);
    expect(await hasher.verify(hash, `${base}b`)).toBe(false);
  });

  it('treats malformed and foreign hashes as a mismatch, never an error', async () => {
    for (const hash of ['', 'plain', '$2b$10$abcdefghijklmnopqrstuu', '$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA']) {
      expect(await hasher.verify(hash, 'anything')).toBe(false);
    }
    expect(await hasher.verifyDummy('anything')).toBe(false);
  });

  it('hashes on at most `concurrency` threads and queues the rest until one is free', async () => {
    const bounded = new PasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 }, 1);
    try {
      expect(bounded.threads).toBe(1);
      const phc = await bounded.hash('glacier orbit velvet');
      const verifications = [1, 2, 3].map(() => bounded.verify(phc, 'glacier orbit velvet'));
      // One verification runs on the hashing thread, the next is handed to it already (so it starts
      // without waiting for the event loop), the third waits in the hasher's queue.
      await new Promise((resolve) => setImmediate(resolve));
      expect(bounded.pending).toBe(1);
      expect(await Promise.all(verifications)).toEqual([true, true, true]);
      expect(bounded.pending).toBe(0);
    } finally {
      await bounded.onApplicationShutdown();
    }
  });

  it('asks for a rehash when the parameters differ from the configured ones', async () => {
    const weak = await new PasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 2 }).hash('glacier orbit velvet');
    expect(hasher.needsRehash(weak)).toBe(true);
    expect(hasher.needsRehash(await hasher.hash('glacier orbit velvet'))).toBe(false);
    expect(new PasswordHasher({ memoryCost: 65_536, timeCost: 3, parallelism: 1 }).needsRehash(await hasher.hash('x'))).toBe(true);
    expect(hasher.needsRehash('not a hash')).toBe(true);
  });

  it('spends about as long on the dummy verification as on a real one', async () => {
    const hash = await hasher.hash('glacier orbit velvet');
    await hasher.verifyDummy('warm-up');
    // Alternating samples, each side's fastest kept: the minimum is the cost without interference,
    // so a busy machine (other test files, CI neighbours) slows both sides rather than skewing one.
    const once = async (work: () => Promise<unknown>): Promise<number> => {
      const started = performance.now();
      await work();
      return performance.now() - started;
    };
    let real = Number.POSITIVE_INFINITY;
    let dummy = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 12; i++) {
      real = Math.min(real, await once(() => hasher.verify(hash, 'wrong password')));
      dummy = Math.min(dummy, await once(() => hasher.verifyDummy('wrong password')));
    }
    expect(dummy / real).toBeGreaterThan(0.5);
    expect(dummy / real).toBeLessThan(2);
  });
});
