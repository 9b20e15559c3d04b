import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import {
  countPoints,
  type PointRow,
  type SiteSamples,
  samplesToRows,
  type TimeSeriesStore,
} from '../storage/timeseries/types.ts';

interface Entry {
  /** Point rows, or one telemetry batch's device samples (cheaper for stores with writeSamples). */
  data: PointRow[] | SiteSamples;
  points: number;
  newestTs: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface WriteBufferOptions {
  maxBatchPoints: number;
  flushIntervalMs: number;
  /**
   * Write before flushIntervalMs once no row has arrived for this long. Gateways keep a bounded window
   * of unacknowledged messages, so under load they all wait for the same commit: waiting out the full
   * interval after the burst is over only leaves the process idle. 0 or absent = off.
   */
  flushIdleMs?: number;
  maxBufferedPoints: number;
}

/**
 * Group commit in front of the time-series store: messages' rows are queued, written in batches of up
 * to maxBatchPoints, and each message's promise resolves only once its rows are stored. A failed write
 * is retried with back-off (rows are kept, order is kept); while the queue is over maxBufferedPoints,
 * enqueue() waits, which pushes back onto the broker and so onto the gateways (they buffer at the edge).
 */
export class WriteBuffer {
  private queue: Entry[] = [];
  private queuedPoints = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private spaceWaiters: (() => void)[] = [];
  private closed = false;
  private failures = 0;

  constructor(
    private store: TimeSeriesStore,
    private opts: WriteBufferOptions,
    private metrics: Metrics,
    private log: Logger,
  ) {}

  get bufferedPoints(): number {
    return this.queuedPoints;
  }

  /** Resolves when the rows are durably written. Waits first while the buffer is full. */
  async enqueue(data: PointRow[] | SiteSamples, newestTs: number): Promise<void> {
    const points = Array.isArray(data) ? data.length : countPoints([data]);
    while (this.queuedPoints >= this.opts.maxBufferedPoints && !this.closed) {
      await new Promise<void>((r) => this.spaceWaiters.push(r));
    }
    if (this.closed) throw new Error('ingest is shutting down');
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, points, newestTs, resolve, reject });
      this.queuedPoints += points;
      this.metrics.buffered.set(this.queuedPoints);
      this.schedule();
    });
  }

  private schedule() {
    if (this.loop) return; // the running loop picks new entries up
    if (this.queuedPoints >= this.opts.maxBatchPoints || this.opts.flushIntervalMs === 0) {
      this.startLoop();
    } else {
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.startLoop();
        }, this.opts.flushIntervalMs);
      }
      const idle = this.opts.flushIdleMs ?? 0;
      if (idle > 0 && idle < this.opts.flushIntervalMs) {
        // Re-armed on every arrival (refresh() is cheap); fires once arrivals pause.
        if (this.idleTimer) this.idleTimer.refresh();
        else
          this.idleTimer = setTimeout(() => {
            this.idleTimer = undefined;
            this.startLoop();
          }, idle);
      }
    }
  }

  private startLoop() {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (this.loop || !this.queue.length) return;
    this.loop = this.drain().finally(() => {
      this.loop = undefined;
      if (this.queue.length) this.schedule();
    });
  }

  /** Writes batches until the queue is empty (entries that arrive meanwhile join the next batch). */
  private async drain(): Promise<void> {
    while (this.queue.length) {
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
          for (const e of this.queue.splice(0)) e.reject(err as Error);
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
      const now = Date.now();
      let newest = 0;
      for (const e of batch) newest = Math.max(newest, e.newestTs);
      if (newest) this.metrics.lag.observe(Math.max(0, (now - newest) / 1000));
      for (const e of batch) e.resolve();
      this.wakeSpaceWaiters();
    }
  }

  /** One store call for the whole group commit. */
  private write(batch: Entry[]): Promise<void> {
    if (this.store.writeSamples && batch.every((e) => !Array.isArray(e.data)))
      return this.store.writeSamples(batch.map((e) => e.data as SiteSamples));
    const rows: PointRow[] = [];
    for (const e of batch) {
      if (Array.isArray(e.data)) for (const r of e.data) rows.push(r);
      else for (const r of samplesToRows([e.data])) rows.push(r);
    }
    return this.store.write(rows);
  }

  private wakeSpaceWaiters() {
    if (this.queuedPoints >= this.opts.maxBufferedPoints && !this.closed) return;
    for (const w of this.spaceWaiters.splice(0)) w();
  }

  /** Writes everything queued. */
  async flush(): Promise<void> {
    this.startLoop();
    while (this.loop) await this.loop;
  }

  /** Refuses new rows, then flushes what is queued. */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeSpaceWaiters();
    await this.flush();
  }
}
