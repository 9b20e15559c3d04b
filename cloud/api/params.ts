import { z } from 'zod';
import { CANONICAL_POINT_NAMES } from '../../protocols/canonical/points.ts';
import { SITE_ID_PATTERN } from '../../protocols/mqtt/topics.ts';
import { DomainError } from './errors.ts';

/**
 * Parameter schemas every router shares: ids, times, paging, telemetry buckets. Defined once so a
 * site id or a time parses the same on every route.
 */

export const siteId = z.string().regex(SITE_ID_PATTERN);
/** Ids the cloud hands out or accepts from operators: groups, devices, users, tokens, dispatches. */
export const id = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);
/** Command ids are the pipeline's (`cmd_…`); looked up, never created from the path. */
export const commandId = z.string().max(64);
export const siteParams = z.object({ site: siteId });
export const groupParams = z.object({ group: id });

const TIME_MESSAGE = 'epoch ms or ISO 8601 time';
/** Epoch ms (digits) or ISO 8601 → epoch ms; undefined when it is neither. */
function parseTime(s: string): number | undefined {
  const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  return Number.isFinite(n) ? n : undefined;
}
/** A time in a query string: epoch ms or ISO 8601. */
export const timeText = z
  .string()
  .refine((s) => parseTime(s) !== undefined, TIME_MESSAGE)
  .transform((s) => parseTime(s) as number);
/** A time in a JSON body (or a market query): a number of epoch ms, or the same text as timeText. */
export const time = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseTime(v);
  if (n === undefined || !Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: TIME_MESSAGE });
    return z.NEVER;
  }
  return n;
});

/** Page size of list routes (newest or oldest first, as the route says). */
export const limit = z.coerce.number().int().min(1).max(1000).default(100);

export const point = z.enum(CANONICAL_POINT_NAMES as [string, ...string[]]);
/** A comma-separated list in a query string. */
export const list = (item: z.ZodType<string, string>) =>
  z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(item));
/** Bucket width in seconds (at most 31 days). */
export const bucketSeconds = (defaultSeconds: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400 * 31)
    .default(defaultSeconds);

/** Guards the stores against a query that would return millions of buckets. */
const MAX_BUCKETS = 100_000;
/** The [from, to) window of a bucketed telemetry query, in ms; `to` defaults to now. */
export function bucketWindow(q: { from: number; to?: number; bucket: number }) {
  const to = q.to ?? Date.now();
  if (to <= q.from) throw new DomainError('invalid', 'to must be after from');
  if ((to - q.from) / (q.bucket * 1000) > MAX_BUCKETS)
    throw new DomainError(
      'invalid',
      `too many buckets: widen bucket or shorten the range (max ${MAX_BUCKETS})`,
    );
  return { from: q.from, to, bucketMs: q.bucket * 1000 };
}

/** Site total of one point per bucket (sites and groups). */
export const aggregateQuery = z.object({
  point: point.default('w'),
  from: timeText,
  to: timeText.optional(),
  bucket: bucketSeconds(300),
  devices: list(id).optional(),
});
