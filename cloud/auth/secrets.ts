import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secrets (API tokens, gateway passwords) are 256-bit random strings, so a plain SHA-256 at rest is
 * enough (no dictionary to slow down) and cheap enough for 10,000 gateways reconnecting at once.
 */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** API tokens read `glt_<tokenId>_<secret>`: the id finds the row, the secret is checked against its hash. */
export function formatApiToken(id: string, secret: string): string {
  return `glt_${id}_${secret}`;
}

export function parseApiToken(token: string): { id: string; secret: string } | undefined {
  const m = /^glt_([A-Za-z0-9]{8,32})_([A-Za-z0-9_-]{20,})$/.exec(token);
  return m ? { id: m[1], secret: m[2] } : undefined;
}

export function newId(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}
