/** Simulated time: starts at `startMs` (UTC epoch ms) and runs `speed` times faster than real time. */
export class SimClock {
  private readonly realStart = Date.now();

  constructor(
    readonly startMs: number = Date.now(),
    readonly speed = 1,
  ) {
    if (!(speed > 0) || !Number.isFinite(speed))
      throw new Error(`speed must be a positive number, got ${speed}`);
  }

  now(): number {
    return this.startMs + (Date.now() - this.realStart) * this.speed;
  }
}
