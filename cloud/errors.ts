/**
 * A refusal by a cloud service, named by a code rather than an HTTP status: the services do not
 * speak HTTP. cloud/api/errors.ts holds the one table from these codes to HTTP status.
 */
export type ErrorCode =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'throttled'
  | 'unavailable';

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Response headers to send with the error (Retry-After, WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
