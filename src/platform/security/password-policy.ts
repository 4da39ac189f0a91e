import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';

/** ASVS 5.0 6.2.1 / 6.2.9: at least 12 characters, and at least 64 allowed. */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;
/** zxcvbn score 3: "safely unguessable, moderate protection from an offline slow-hash attack". */
const MIN_SCORE = 3;
/** Parts of the email or name shorter than this are too generic to forbid ("al", "jo"). */
const MIN_PERSONAL_PART = 3;

/** What the password is checked against besides the dictionaries. */
export interface PasswordContext {
  email?: string | undefined;
  name?: string | undefined;
}

/**
 * The password policy of ASVS 6.2: length limits (counted in Unicode code points after NFKC, as
 * the hasher compares them), no composition rules, no truncation, and rejection of common or
 * guessable passwords by zxcvbn-ts with its common-password, word and name dictionaries plus the
 * user's own email and name.
 */
export class PasswordPolicy {
  private estimator: ZxcvbnFactory | undefined;

  /** The problems with `password`; empty when it is acceptable. Messages never echo the password. */
  check(password: string, context: PasswordContext = {}): string[] {
    const normalized = password.normalize('NFKC');
    const length = [...normalized].length;
    if (length < PASSWORD_MIN_LENGTH) return [`password must be at least ${PASSWORD_MIN_LENGTH} characters long`];
    // Refused rather than cut: a silently truncated password is weaker than the user believes.
    if (length > PASSWORD_MAX_LENGTH) return [`password must be at most ${PASSWORD_MAX_LENGTH} characters long`];

    const personal = personalParts(context);
    const lower = normalized.toLowerCase();
    if (personal.some((part) => lower.includes(part))) {
      return ['password must not contain your email address or name'];
    }
    const result = this.zxcvbn().check(normalized, personal);
    if (result.score < MIN_SCORE) {
      const reason = result.feedback.warning ?? 'it is too easy to guess';
      return [`password is too easy to guess: ${reason.replace(/\.$/, '')}`];
    }
    return [];
  }

  /** Built on first use: loading the dictionaries takes a few hundred milliseconds. */
  private zxcvbn(): ZxcvbnFactory {
    this.estimator ??= new ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...english.dictionary },
      graphs: common.adjacencyGraphs,
      translations: english.translations,
      useLevenshteinDistance: true,
    });
    return this.estimator;
  }
}

function personalParts(context: PasswordContext): string[] {
  const parts: string[] = [];
  const local = context.email?.split('@', 1)[0]?.toLowerCase();
  if (local) parts.push(local, ...local.split(/[._+-]+/));
  if (context.name) parts.push(...context.name.toLowerCase().split(/\s+/));
  return [...new Set(parts.filter((part) => [...part].length >= MIN_PERSONAL_PART))];
}
