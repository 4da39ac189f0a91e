import { hashSync, verifySync, type Options } from '@node-rs/argon2';

/** One argon2 call, run synchronously on a hashing thread (see PasswordHasher). */
export type Argon2Task = { op: 'verify'; phc: string; password: string } | { op: 'hash'; password: string; options: Options };

export default function runArgon2(task: Argon2Task): string | boolean {
  return task.op === 'verify' ? verifySync(task.phc, task.password) : hashSync(task.password, task.options);
}
