import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import {
  countPoints,
  type PointRow,
  type QuarantineRow,
  type SiteSamples,
  samplesToRows,
  type TimeSeriesStore,
} from '../storage/timeseries/types.ts';

interface Entry {
  /** Point rows, or one telemetry batch's device samples (cheaper for stores with writeSamples). */
  data: PointRow[] | SiteSamples;
  /** Values of the message kept out of the telemetry tables; stored in the same write. */
  quarantine?: QuarantineRow[];
  points: number;
  newestTs: number;
  /** Called once: without an error when stored, with one when given up. */
  done: (err?: Error) => void;
}

export interface WriteBufferOptions {
  maxBatchPoints: number;
  /**
   * Minimum spacing (from start to start) of commits that carried fewer than smallBatchPoints: a
   * trickle of messages is grouped instead of costing one commit (and fsync) each. 0 = no spacing.
   */
  flushIntervalMs: number;
  /** A commit with fewer points than this counts as small (see flushIntervalMs). */
  smallBatchPoints: number;
  maxBufferedPoints: number;
}

/**
 * Group commit in front of the time-series store: messages' rows are queued, written in batches of up
 * to maxBatchPoints, and each message's promise resolves only once its rows are stored. A failed write
 * is retried with back-off (rows are kept, order is kept); while the queue is over maxBufferedPoints,
 * enqueue() waits, which pushes back onto the broker and so onto the gateways (they buffer at the edge).
 *
 * When to commit: one write is in flight at a time; whatever arrives meanwhile is committed together
 * as soon as it returns (and when the store is idle, at the end of the current event-loop turn, so
 * messages read together commit together). Gateways keep a bounded window of unacknowledged messages,
 * so under load commits pipeline back to back and grow by themselves; only when they stay small (sparse
 * load) are they spaced flushIntervalMs apart, which bounds the commit rate without delaying busy ones.
 */
export class WriteBuffer {
  private queue: Entry[] = [];
  private queuedPoints = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private loop: Promise<void> | undefined;
  private spaceWaiters: (() => void)[] = [];
  private closed = false;
  private flushing = 0;
  private failures = 0;
  /** Start (performance.now()) and size of the last commit. */
  private lastStart = Number.NEGATIVE_INFINITY;
  private lastPoints = 0;

  constructor(
    private store: TimeSeriesStore,
    private opts: WriteBufferOptions,
    private metrics: Metrics,
    private log: Logger,
  ) {}

  get bufferedPoints(): number {
    return this.queuedPoints;
  }

  /** True while new rows would have to wait for space. */
  get full(): boolean {
    return this.queuedPoints >= this.opts.maxBufferedPoints && !this.closed;
  }

  /** Resolves once there is space for more rows (at once when there is). */
  async waitForSpace(): Promise<void> {
    while (this.full) await new Promise<void>((r) => this.spaceWaiters.push(r));
  }

  /**
   * Resolves when the rows (and quarantined values) are durably written. Waits first while the buffer
   * is full. Quarantined values count as points for the buffer's bounds.
   */
  async enqueue(
    data: PointRow[] | SiteSamples,
    newestTs: number,
    quarantine?: QuarantineRow[],
  ): Promise<void> {
    if (this.full) await this.waitForSpace();
    return new Promise<void>((resolve, reject) =>
      this.add(data, newestTs, quarantine, (err) => (err ? reject(err) : resolve())),
    );
  }

  /**
   * enqueue() without promises, for the broker's per-message path: `done` is called once the rows are
   * durably written (or with the error when ingest gave up on them). Does not wait for space: callers
   * check `full` first (enqueue() does).
   */
  add(
    data: PointRow[] | SiteSamples,
    newestTs: number,
    quarantine: QuarantineRow[] | undefined,
    done: (err?: Error) => void,
  ): void {
    if (this.closed) {
      done(new Error('ingest is shutting down'));
      return;
    }
    const points =
      (Array.isArray(data) ? data.length : countPoints([data])) + (quarantine ? quarantine.length : 0);
    this.queue.push({ data, points, newestTs, done, ...(quarantine?.length && { quarantine }) });
    this.queuedPoints += points;
    this.metrics.buffered.set(this.queuedPoints);
    this.schedule();
  }

  private schedule() {
    if (this.loop || !this.queue.length) return; // a running write reschedules when it returns
    const wait =
      this.lastPoints < this.opts.smallBatchPoints &&
      this.queuedPoints < this.opts.maxBatchPoints &&
      !this.flushing &&
      !this.closed
        ? this.lastStart + this.opts.flushIntervalMs - performance.now()
        : 0;
    if (wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.startLoop();
      }, wait);
      return;
    }
    this.immediate ??= setImmediate(() => {
      this.immediate = undefined;
      this.startLoop();
    });
  }

  private startLoop() {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    if (this.loop || !this.queue.length) return;
    this.loop = this.commit().finally(() => {
      this.loop = undefined;
      this.schedule();
    });
  }

  /** Writes one batch from the head of the queue (retrying until it is stored, or shutdown gives up). */
  private async commit(): Promise<void> {
    for (;;) {
      let n = 0;
      let points = 0;
      while (
        n < this.queue.length &&
        (n === 0 || points + this.queue[n].points <= this.opts.maxBatchPoints)
      ) {
        points += this.queue[n].points;
        n++;
      }
      const batch = this.queue.slice(0, n);
      this.lastStart = performance.now();
      this.lastPoints = points;
      const end = this.metrics.writeSeconds.startTimer();
      try {
        await this.write(batch);
      } catch (err) {
        end();
        this.failures++;
        this.metrics.writeErrors.inc();
        const backoff = Math.min(5000, 50 * 2 ** Math.min(this.failures, 7));
        this.log.error({ err, points, backoffMs: backoff }, 'time-series write failed; retrying');
        if (this.closed && this.failures > 3) {
          // Shutting down with the store gone: give up. These messages were never acknowledged to
          // the gateways (embedded broker), so the edges will send them again.
          for (const e of this.queue.splice(0)) settle(e, this.log, err as Error);
          this.queuedPoints = 0;
          this.wakeSpaceWaiters();
          return;
        }
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      end();
      this.failures = 0;
      this.queue.splice(0, n);
      this.queuedPoints -= points;
      this.metrics.buffered.set(this.queuedPoints);
      this.metrics.points.inc(points);
      let newest = 0;
      for (const e of batch) if (e.newestTs > newest) newest = e.newestTs;
      if (newest) this.metrics.lag.observe(Math.max(0, (Date.now() - newest) / 1000));
      for (const e of batch) settle(e, this.log);
      this.wakeSpaceWaiters();
      return;
    }
  }

  /** One store call for the whole group commit. */
  private write(batch: Entry[]): Promise<void> {
    const held = batch.flatMap((e) => e.quarantine ?? []);
    const quarantine = held.length ? held : undefined;
    if (this.store.writeSamples && batch.every((e) => !Array.isArray(e.data)))
      return this.store.writeSamples(
        batch.map((e) => e.data as SiteSamples).filter((d) => d.samples.length),
        quarantine,
      );
    const rows: PointRow[] = [];
    for (const e of batch) {
      if (Array.isArray(e.data)) for (const r of e.data) rows.push(r);
      else for (const r of samplesToRows([e.data])) rows.push(r);
    }
    return this.store.write(rows, quarantine);
  }

  private wakeSpaceWaiters() {
    if (this.queuedPoints >= this.opts.maxBufferedPoints && !this.closed) return;
    for (const w of this.spaceWaiters.splice(0)) w();
  }

  /** Writes everything queued (no spacing). */
  async flush(): Promise<void> {
    this.flushing++;
    try {
      do {
        this.startLoop();
        while (this.loop) await this.loop;
      } while (this.queue.length);
    } finally {
      this.flushing--;
    }
  }

  /** Refuses new rows, then flushes what is queued. */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeSpaceWaiters();
    await this.flush();
  }
}

/** A message's callback (the broker's acknowledgement) must not keep the rest of its commit waiting. */
function settle(e: Entry, log: Logger, err?: Error) {
  try {
    e.done(err);
  } catch (cbErr) {
    log.error({ err: cbErr }, 'ingest callback failed');
  }
}
