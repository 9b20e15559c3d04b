import { randomInt } from 'node:crypto';
import { hashSecret } from './secrets.ts';

/**
 * One-time enrolment codes: 20 characters of Crockford's base32 (no I, L, O, U: nothing to misread
 * on a label or over the phone), 100 random bits, shown in groups of five. Only the SHA-256 of the
 * normalized code is stored; codes expire and are used once, and failed attempts are throttled per
 * address, so 100 bits are far beyond guessing.
 */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 20;

export function newEnrolmentCode(): string {
  let s = '';
  for (let i = 0; i < CODE_LENGTH; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return s.match(/.{5}/g)?.join('-') ?? s;
}

/** The code as typed or scanned: case, spaces and dashes do not matter; O reads 0, I and L read 1. */
export function normalizeEnrolmentCode(input: string): string | undefined {
  const s = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return s.length === CODE_LENGTH && [...s].every((c) => CODE_ALPHABET.includes(c)) ? s : undefined;
}

/** What the registry stores for a code (never the code). */
export function hashEnrolmentCode(normalized: string): string {
  return hashSecret(`enrol:${normalized}`);
}
