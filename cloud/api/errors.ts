import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { formatIssues } from '../../protocols/mqtt/payloads.ts';
import { DomainError, type ErrorCode } from '../errors.ts';
import { MarketRefusal, MarketServiceError } from '../market/index.ts';
import { DispatchRefused } from '../vpp/dispatch.ts';

export { DomainError } from '../errors.ts';

/**
 * The one place where an error becomes an HTTP answer. Routes and services throw a `DomainError`
 * (cloud/errors.ts; the command pipeline's, grid's and VPP dispatch's refusals are ones) with a
 * code; the table below says which status the code answers. The market's refusal codes
 * (MarketRefusal, MarketServiceError) share the table.
 */
export const ERROR_STATUS = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  throttled: 429,
  unavailable: 503,
  // Market rule refusals (MarketRefusal); a code missing here answers 422.
  GATE_CLOSED: 409,
  // The real-time clearing finished after its interval's deadline: nothing stored or sent.
  RT_LATE: 409,
  GATE_OPEN: 409,
  DUPLICATE_RESOURCE: 409,
  DMO_SELF_DEALING: 403,
  NOT_YOURS: 403,
  NOT_REPRESENTED: 403,
  UTILITY_DER_EXCLUDED: 403,
  AGGREGATOR_REQUIRED: 403,
  NO_DERM: 403,
  NOT_DMO: 403,
  NOT_DGO: 403,
  NOT_DERM: 403,
  NO_MARKET_ACTOR: 403,
  INFORMATION_SEPARATION: 403,
  UNKNOWN_BID: 404,
  UNKNOWN_RESOURCE: 404,
  WRONG_MARKET_FORM: 409,
  MALFORMED: 400,
  BAD_INTERVAL: 400,
  BAD_DAY: 400,
  AMBIGUOUS_PARTICIPANT: 400,
  // Market service refusals (MarketServiceError): lookups, state and wiring.
  DUPLICATE_ORDER: 409,
  DUPLICATE_ACTOR: 409,
  DUPLICATE_LINK: 409,
  CONFIG_LINK: 409,
  UNKNOWN_ACTOR: 404,
  UNKNOWN_LINK: 404,
  UNKNOWN_USER: 422,
  NOT_LIVE: 409,
  NOT_METERED_YET: 409,
  NOT_CLOSED: 409,
  ALREADY_SETTLED: 409,
  NOT_LINKED: 422,
  UNKNOWN_DEVICE: 422,
  UNKNOWN_SITE: 422,
  NO_TERRITORY: 422,
  UNKNOWN_TERRITORY: 404,
  NO_ISO: 503,
  NO_PIPELINE: 503,
  NO_TELEMETRY: 503,
  // The settlement of a period does not match its congestion/loss surplus by definition: a fault of
  // ours (logged), answered with its code and reason; the period is not closed, nothing is stored.
  SETTLEMENT_MISMATCH: 500,
} as const satisfies Record<ErrorCode, number> & Record<string, number>;

/**
 * A refusal that also names a code for clients to branch on (answered `{ error, code, reason }`
 * like the market's refusals), with the status of its DomainError code.
 */
export class CodedRefusal extends DomainError {
  constructor(
    code: ConstructorParameters<typeof DomainError>[0],
    readonly apiCode: string,
    readonly reason: string,
  ) {
    super(code, `${apiCode}: ${reason}`);
  }
}

/** A request with the session cookie that changes something without the session's CSRF value: 403. */
export class CsrfRefused extends CodedRefusal {
  constructor() {
    super(
      'forbidden',
      'CSRF',
      "a request with the session cookie must send header x-csrf-token with the gl_csrf cookie's value",
    );
  }
}

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  /** A fault of ours (logged), not a refusal of the request. */
  fault: boolean;
}

const refusal = (status: number, body: Record<string, unknown> = {}, headers = {}) => ({
  status,
  body,
  headers,
  fault: status >= 500,
});

/**
 * Market refusals answer { error, code, reason } so a client can branch on the code; a market code
 * at 5xx (SETTLEMENT_MISMATCH) keeps its code and reason in the answer but is logged as a fault.
 */
function marketAnswer(err: unknown): HttpAnswer | undefined {
  if (err instanceof MarketRefusal) {
    const { code, reason } = err.refusal;
    const status = (ERROR_STATUS as Record<string, number>)[code] ?? 422;
    return refusal(status, { error: `${code}: ${reason}`, code, reason });
  }
  if (err instanceof MarketServiceError) {
    const reason = err.message.slice(err.code.length + 2);
    const status = (ERROR_STATUS as Record<string, number>)[err.code] ?? 422;
    return refusal(status, { error: err.message, code: err.code, reason });
  }
  return undefined;
}

/** Status of the errors that are not ours: body-parser's, and the domain services' own. */
function statusOf(err: unknown): number {
  if (err instanceof DomainError) return ERROR_STATUS[err.code];
  if (err instanceof ZodError) return 400;
  if ((err as { type?: string }).type === 'entity.parse.failed') return 400;
  const s = (err as { status?: number }).status;
  return s && s < 500 ? s : 500;
}

export function toHttp(err: unknown): HttpAnswer {
  const m = marketAnswer(err);
  if (m) return m;
  const status = statusOf(err);
  if (status >= 500) return { status, body: { error: 'internal error' }, headers: {}, fault: true };
  const message = err instanceof ZodError ? `invalid body: ${formatIssues(err)}` : (err as Error).message;
  const extra =
    err instanceof DispatchRefused
      ? { feasibility: err.feasibility }
      : err instanceof CodedRefusal
        ? { code: err.apiCode, reason: err.reason }
        : {};
  return refusal(status, { error: message, ...extra }, err instanceof DomainError ? err.headers : {});
}

/** Whether an error is a refusal of the request (4xx), as opposed to a fault. */
export const isRefusal = (err: unknown) => !toHttp(err).fault;

/** The API's last middleware: every error answers through toHttp; faults are logged, refusals not. */
export function answerErrors(log: Pick<Logger, 'error'>) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const a = toHttp(err);
    if (a.fault) log.error({ err, path: req.path }, 'API error');
    res.set(a.headers).status(a.status).json(a.body);
  };
}
