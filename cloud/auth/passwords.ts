import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * User passwords (the operator app's sign-in). Unlike API tokens they are chosen by people, so they
 * are stored as scrypt hashes (memory-hard, salted): `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`.
 * The parameters travel with the hash, so they can be raised later without invalidating old hashes.
 */
const N = 16_384;
const R = 8;
const P = 1;
const KEYLEN = 32;
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

function derive(password: string, salt: Buffer, o: { N: number; r: number; p: number }, keylen: number) {
  const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r + 1024 * 1024 };
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, { N, r: R, p: P }, KEYLEN);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A hash of a random password: checked against when the user is unknown, so timing tells nothing. */
let decoy: Promise<string> | undefined;

/**
 * Whether `password` matches `stored` (constant-time comparison of the derived keys). With no stored
 * hash (unknown user, no password set) a decoy hash is checked so the answer takes as long; false.
 */
export async function passwordMatches(password: string, stored: string | undefined): Promise<boolean> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  const hash = stored ?? (await decoy);
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash);
  if (!m) return false;
  const expected = Buffer.from(m[5], 'base64');
  const key = await derive(
    password,
    Buffer.from(m[4], 'base64'),
    { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) },
    expected.length,
  );
  return timingSafeEqual(key, expected) && stored !== undefined;
}
