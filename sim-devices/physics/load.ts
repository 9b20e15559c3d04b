/**
 * Household load profile for simulated sites: base load, morning and evening peaks, weekend shape,
 * and seeded noise. Returns watts of consumption.
 */
export class LoadProfile {
  private noise = 0;

  constructor(
    private readonly rand: () => number,
    private readonly scaleW = 1000,
    private readonly utcOffsetH = 0,
  ) {}

  /** Deterministic part of the profile at a UTC instant. */
  meanW(utcMs: number): number {
    const local = new Date(utcMs + this.utcOffsetH * 3600_000);
    const h = local.getUTCHours() + local.getUTCMinutes() / 60;
    const weekend = local.getUTCDay() === 0 || local.getUTCDay() === 6;
    const bump = (center: number, width: number, height: number) =>
      height * Math.exp(-((h - center) ** 2) / (2 * width ** 2));
    const shape =
      0.35 + bump(weekend ? 9.5 : 7.5, 1.2, 0.8) + bump(19, 2, 1.4) + (weekend ? bump(13, 2.5, 0.5) : 0);
    return this.scaleW * shape;
  }

  step(utcMs: number, dtS: number): number {
    const k = Math.min(1, dtS / 300);
    this.noise += k * ((this.rand() - 0.5) * 0.6 - this.noise);
    return Math.max(50, this.meanW(utcMs) * (1 + this.noise));
  }
}
