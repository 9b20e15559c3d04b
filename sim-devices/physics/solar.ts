/**
 * Clear-sky PV for simulated sites. Deliberately simple (the simulator needs a plausible, smooth
 * day curve, not forecasting accuracy): solar elevation from the standard declination / equation-of-
 * time approximations, Haurwitz clear-sky global horizontal irradiance.
 */
const DEG = Math.PI / 180;

/** Solar elevation angle in degrees at a UTC instant and location. */
export function solarElevationDeg(utcMs: number, latDeg: number, lonDeg: number): number {
  const d = new Date(utcMs);
  const startOfYear = Date.UTC(d.getUTCFullYear(), 0, 1);
  const dayOfYear = Math.floor((utcMs - startOfYear) / 86400000) + 1;
  const hours = d.getUTCHours() + d.getUTCMinutes() / 60 + d.getUTCSeconds() / 3600;
  const g = ((2 * Math.PI) / 365) * (dayOfYear - 1 + (hours - 12) / 24);
  const decl =
    0.006918 -
    0.399912 * Math.cos(g) +
    0.070257 * Math.sin(g) -
    0.006758 * Math.cos(2 * g) +
    0.000907 * Math.sin(2 * g) -
    0.002697 * Math.cos(3 * g) +
    0.00148 * Math.sin(3 * g);
  const eqTimeMin =
    229.18 *
    (0.000075 +
      0.001868 * Math.cos(g) -
      0.032077 * Math.sin(g) -
      0.014615 * Math.cos(2 * g) -
      0.040849 * Math.sin(2 * g));
  const solarTimeMin = hours * 60 + eqTimeMin + 4 * lonDeg;
  const hourAngle = (solarTimeMin / 4 - 180) * DEG;
  const lat = latDeg * DEG;
  const sinElev = Math.sin(lat) * Math.sin(decl) + Math.cos(lat) * Math.cos(decl) * Math.cos(hourAngle);
  return Math.asin(Math.max(-1, Math.min(1, sinElev))) / DEG;
}

/** Haurwitz clear-sky global horizontal irradiance, W/m². */
export function clearSkyGhi(elevationDeg: number): number {
  if (elevationDeg <= 0) return 0;
  const cosZ = Math.sin(elevationDeg * DEG);
  return 1098 * cosZ * Math.exp(-0.057 / cosZ);
}

/**
 * Cloud variability: a seeded, mean-reverting random walk of the clear-sky fraction (0.2..1),
 * advanced in simulated seconds so the same seed gives the same weather at any speed.
 */
export class CloudModel {
  private factor = 1;

  constructor(
    private readonly rand: () => number,
    private readonly meanCover = 0.25,
  ) {}

  step(dtS: number): number {
    const steps = Math.max(1, Math.round(dtS / 10));
    for (let i = 0; i < steps; i++) {
      const target = 1 - this.meanCover;
      this.factor += 0.05 * (target - this.factor) + (this.rand() - 0.5) * 0.12;
      this.factor = Math.min(1, Math.max(0.2, this.factor));
    }
    return this.factor;
  }
}
