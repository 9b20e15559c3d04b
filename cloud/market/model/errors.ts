/**
 * A request the market service refuses for a reason outside the core rules (role, state, lookup). It
 * names a code, never an HTTP status: cloud/api/errors.ts maps every code to one status.
 */
export class MarketServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
