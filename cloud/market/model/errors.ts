/** A request the market service refuses for a reason outside the core rules (role, state, lookup). */
export class MarketServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
