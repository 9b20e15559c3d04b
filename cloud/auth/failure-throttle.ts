import type { Logger } from 'pino';

export interface FailureThrottleOptions {
  /** Failed attempts a source may make within one window before it is refused for a window. */
  maxFailures: number;
  windowMs: number;
  log: Pick<Logger, 'warn'>;
  /** What is being throttled, for the summary line (e.g. "API auth"). */
  what: string;
  /** Called per failure and per refused attempt (metrics). */
  onEvent?: (event: 'failure' | 'throttled') => void;
  now?: () => number;
  /** Distinct sources tracked at once; past it the oldest idle entry is dropped (memory bound). */
  maxSources?: number;
}

interface SourceState {
  /** Failures in the current counting window (starts at the source's first failure). */
  failures: number;
  windowStart: number;
  blockedUntil: number;
  /** Counted since the last summary. */
  summaryFailures: number;
  summaryThrottled: number;
  reasons: Map<string, number>;
}

/** Sources named individually in one summary line; the rest are counted. */
const SUMMARY_SOURCES = 20;

/**
 * Per-source throttle of failed authentication attempts. After `maxFailures` failures within
 * `windowMs` a source is refused for `windowMs` (the caller answers 429 + Retry-After) without its
 * credentials even being looked at, so guessing is bounded to maxFailures per window per address and
 * costs no database query. Other sources are unaffected.
 *
 * Logging is summarized: at most one WARN per window (from the first failure on), with counts per source
 * and reason, instead of one line per failure (3,000 bad calls made 3,000 lines before).
 */
export class FailureThrottle {
  private sources = new Map<string, SourceState>();
  /** What evicted sources (past maxSources) had counted since the last summary: totals stay exact. */
  private evicted = { sources: 0, failures: 0, throttled: 0 };
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly maxSources: number;

  constructor(private readonly o: FailureThrottleOptions) {
    this.now = o.now ?? Date.now;
    this.maxSources = o.maxSources ?? 100_000;
  }

  /** Milliseconds the source must wait before trying again; 0 when it may try now. */
  retryAfterMs(source: string): number {
    const s = this.sources.get(source);
    const wait = s ? s.blockedUntil - this.now() : 0;
    return Math.max(wait, 0);
  }

  /** A refused attempt of a blocked source (counted for the summary, does not extend the block). */
  throttled(source: string): void {
    this.state(source).summaryThrottled++;
    this.o.onEvent?.('throttled');
    this.scheduleSummary();
  }

  failure(source: string, reason: string): void {
    const now = this.now();
    const s = this.state(source);
    if (now - s.windowStart >= this.o.windowMs) {
      s.windowStart = now;
      s.failures = 0;
    }
    s.failures++;
    s.summaryFailures++;
    s.reasons.set(reason, (s.reasons.get(reason) ?? 0) + 1);
    if (s.failures >= this.o.maxFailures && s.blockedUntil <= now) s.blockedUntil = now + this.o.windowMs;
    this.o.onEvent?.('failure');
    this.scheduleSummary();
  }

  /** Writes the pending summary now (also done by stop()). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const rows: { source: string; failures: number; throttled: number; reasons: Record<string, number> }[] =
      [];
    const now = this.now();
    for (const [source, s] of this.sources) {
      if (s.summaryFailures || s.summaryThrottled)
        rows.push({
          source,
          failures: s.summaryFailures,
          throttled: s.summaryThrottled,
          reasons: Object.fromEntries(s.reasons),
        });
      s.summaryFailures = 0;
      s.summaryThrottled = 0;
      s.reasons.clear();
      // Nothing left to remember about a source whose window and block are both over.
      if (s.blockedUntil <= now && now - s.windowStart >= this.o.windowMs) this.sources.delete(source);
    }
    const ev = this.evicted;
    this.evicted = { sources: 0, failures: 0, throttled: 0 };
    if (!rows.length && !ev.sources) return;
    rows.sort((a, b) => b.failures + b.throttled - (a.failures + a.throttled));
    const others = Math.max(rows.length - SUMMARY_SOURCES, 0) + ev.sources;
    this.o.log.warn(
      {
        windowMs: this.o.windowMs,
        failures: rows.reduce((n, r) => n + r.failures, ev.failures),
        throttled: rows.reduce((n, r) => n + r.throttled, ev.throttled),
        sources: rows.slice(0, SUMMARY_SOURCES),
        ...(others ? { otherSources: others } : {}),
        blocked: rows.filter((r) => this.retryAfterMs(r.source) > 0).map((r) => r.source),
      },
      `${this.o.what} failures (summary)`,
    );
  }

  stop(): void {
    this.flush();
  }

  private scheduleSummary() {
    this.timer ??= setTimeout(() => this.flush(), this.o.windowMs).unref();
  }

  private state(source: string): SourceState {
    let s = this.sources.get(source);
    if (!s) {
      if (this.sources.size > 0 && this.sources.size >= this.maxSources) {
        // Maps iterate in insertion order: the first entry is the oldest source.
        const [oldest, gone] = this.sources.entries().next().value as [string, SourceState];
        this.sources.delete(oldest);
        if (gone.summaryFailures || gone.summaryThrottled) {
          this.evicted.sources++;
          this.evicted.failures += gone.summaryFailures;
          this.evicted.throttled += gone.summaryThrottled;
        }
      }
      s = {
        failures: 0,
        windowStart: this.now(),
        blockedUntil: 0,
        summaryFailures: 0,
        summaryThrottled: 0,
        reasons: new Map(),
      };
      this.sources.set(source, s);
    }
    return s;
  }
}
