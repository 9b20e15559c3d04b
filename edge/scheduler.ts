/**
 * Poll scheduler: every device has its own timer, interval, timeout and back-off, so one slow or
 * dead device never delays the others. Devices that share a line (an RS-485 bus, a TCP gateway) still
 * take turns on the wire — the Modbus client serializes transactions per connection — and a failing
 * device backs off exponentially so it stops eating the line's time with timeouts.
 */
import { EventEmitter } from 'node:events';

export interface PollTask<T> {
  id: string;
  intervalMs: number;
  /** Whole-poll deadline (a device may need several transactions). */
  timeoutMs: number;
  run(): Promise<T>;
  /** Failures in an expected window (a vendor's daily self-test) do not escalate back-off. */
  expectedOutage?(now: number): boolean;
}

export interface TaskState {
  id: string;
  ok: boolean;
  failures: number;
  lastOkMs?: number;
  lastError?: string;
  nextMs: number;
  polls: number;
  errors: number;
}

export interface SchedulerEvents<T> {
  result: [id: string, value: T, durationMs: number];
  failure: [id: string, error: Error, state: TaskState];
  recovered: [id: string];
}

export class TimeoutError extends Error {}

export class PollScheduler<T> extends EventEmitter<SchedulerEvents<T>> {
  private readonly tasks = new Map<string, { task: PollTask<T>; state: TaskState; timer?: NodeJS.Timeout }>();
  private running = false;

  constructor(private readonly opts: { maxBackoffMs?: number; now?: () => number } = {}) {
    super();
  }

  private get now() {
    return this.opts.now ?? Date.now;
  }

  add(task: PollTask<T>): void {
    const entry = { task, state: { id: task.id, ok: true, failures: 0, nextMs: 0, polls: 0, errors: 0 } };
    this.tasks.set(task.id, entry);
    if (this.running) this.schedule(task.id, 0);
  }

  states(): TaskState[] {
    return [...this.tasks.values()].map((t) => ({ ...t.state }));
  }

  start(): void {
    this.running = true;
    // Stagger first polls a little so devices on one line don't all queue at the same instant.
    let i = 0;
    for (const id of this.tasks.keys()) this.schedule(id, (i++ * 37) % 500);
  }

  stop(): void {
    this.running = false;
    for (const t of this.tasks.values()) if (t.timer) clearTimeout(t.timer);
  }

  /** Delay before the next attempt after `failures` consecutive failures. */
  static backoffMs(intervalMs: number, failures: number, maxMs: number): number {
    if (failures === 0) return intervalMs;
    return Math.min(maxMs, intervalMs * 2 ** Math.min(failures, 16));
  }

  private schedule(id: string, delayMs: number): void {
    const e = this.tasks.get(id);
    if (!e || !this.running) return;
    e.state.nextMs = this.now() + delayMs;
    e.timer = setTimeout(() => void this.runOnce(id), delayMs);
    e.timer.unref?.();
  }

  private async runOnce(id: string): Promise<void> {
    const e = this.tasks.get(id);
    if (!e || !this.running) return;
    const { task, state } = e;
    const t0 = this.now();
    const started = performance.now();
    state.polls++;
    try {
      const value = await withTimeout(
        task.run(),
        task.timeoutMs,
        `${id}: poll took longer than ${task.timeoutMs} ms`,
      );
      const wasFailing = state.failures > 0;
      state.ok = true;
      state.failures = 0;
      state.lastOkMs = this.now();
      state.lastError = undefined;
      if (wasFailing) this.emit('recovered', id);
      this.emit('result', id, value, performance.now() - started);
    } catch (err) {
      state.errors++;
      state.ok = false;
      if (!task.expectedOutage?.(t0)) state.failures++;
      state.lastError = (err as Error).message;
      this.emit('failure', id, err as Error, { ...state });
    }
    const elapsed = this.now() - t0;
    const maxMs = this.opts.maxBackoffMs ?? 60_000;
    const delay = PollScheduler.backoffMs(task.intervalMs, state.failures, maxMs);
    // Fixed-rate when healthy (the interval counts from the poll's start), back-off when failing.
    this.schedule(id, state.failures === 0 ? Math.max(0, delay - elapsed) : delay);
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
