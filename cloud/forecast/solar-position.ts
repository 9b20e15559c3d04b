/**
 * Solar position after NREL's SPA (Reda & Andreas 2004/2008), stated uncertainty ±0.0003° for
 * years −2000…6000. The site-independent (geocentric) half is memoized per instant because a fleet
 * shares one time grid: 1,000 sites cost one ephemeris evaluation per timestamp, not 1,000.
 */
import { B_TERMS, L_TERMS, NUTATION_TERMS, R_TERMS } from './spa-tables.ts';

const DEG = Math.PI / 180;
const RAD = 180 / Math.PI;

/** ΔT = TT − UT1 in seconds; ~69 s for the 2020s (IERS). */
export const DEFAULT_DELTA_T_S = 69;

export interface Geocentric {
  /** Geocentric right ascension α, degrees. */
  alpha: number;
  /** Geocentric declination δ, degrees. */
  delta: number;
  /** Apparent sidereal time at Greenwich ν, degrees. */
  nu: number;
  /** Earth–Sun distance R, astronomical units. */
  radiusAu: number;
  /** Intermediate values, exposed for checks against the SPA paper. */
  heliocentricLongitude: number;
  heliocentricLatitude: number;
  nutationLongitude: number;
  nutationObliquity: number;
  trueObliquity: number;
  apparentLongitude: number;
  julianDay: number;
}

export interface Observer {
  latitude: number;
  longitude: number;
  /** metres above sea level */
  elevation?: number;
  /** annual mean local pressure, mbar (hPa) */
  pressure?: number;
  /** annual mean local temperature, °C */
  temperature?: number;
}

export interface SolarPosition {
  /** Topocentric zenith angle corrected for refraction, degrees. */
  zenith: number;
  /** Topocentric azimuth, degrees eastward from north. */
  azimuth: number;
  /** Zenith without refraction (for irradiance geometry below the horizon), degrees. */
  zenithGeometric: number;
  radiusAu: number;
}

const mod360 = (x: number) => ((x % 360) + 360) % 360;

function series(terms: readonly (readonly (readonly [number, number, number])[])[], jme: number): number {
  let total = 0;
  let power = 1;
  for (const group of terms) {
    let s = 0;
    for (const [a, b, c] of group) s += a * Math.cos(b + c * jme);
    total += s * power;
    power *= jme;
  }
  return total / 1e8;
}

export function geocentric(unixMs: number, deltaT = DEFAULT_DELTA_T_S): Geocentric {
  const jd = unixMs / 86400000 + 2440587.5;
  const jc = (jd - 2451545) / 36525;
  const jde = jd + deltaT / 86400;
  const jce = (jde - 2451545) / 36525;
  const jme = jce / 10;

  const L = mod360(series(L_TERMS, jme) * RAD);
  const B = series(B_TERMS, jme) * RAD;
  const R = series(R_TERMS, jme);
  const theta = mod360(L + 180);
  const beta = -B;

  const x0 = 297.85036 + 445267.11148 * jce - 0.0019142 * jce ** 2 + jce ** 3 / 189474;
  const x1 = 357.52772 + 35999.05034 * jce - 0.0001603 * jce ** 2 - jce ** 3 / 300000;
  const x2 = 134.96298 + 477198.867398 * jce + 0.0086972 * jce ** 2 + jce ** 3 / 56250;
  const x3 = 93.27191 + 483202.017538 * jce - 0.0036825 * jce ** 2 + jce ** 3 / 327270;
  const x4 = 125.04452 - 1934.136261 * jce + 0.0020708 * jce ** 2 + jce ** 3 / 450000;
  let dPsi = 0;
  let dEps = 0;
  for (const r of NUTATION_TERMS) {
    const arg = (r[0] * x0 + r[1] * x1 + r[2] * x2 + r[3] * x3 + r[4] * x4) * DEG;
    dPsi += (r[5] + r[6] * jce) * Math.sin(arg);
    dEps += (r[7] + r[8] * jce) * Math.cos(arg);
  }
  dPsi /= 36000000;
  dEps /= 36000000;

  const u = jme / 10;
  const eps0 =
    84381.448 +
    u *
      (-4680.93 +
        u *
          (-1.55 +
            u *
              (1999.25 +
                u *
                  (-51.38 +
                    u * (-249.67 + u * (-39.05 + u * (7.12 + u * (27.87 + u * (5.79 + u * 2.45)))))))));
  const eps = eps0 / 3600 + dEps;

  const dTau = -20.4898 / (3600 * R);
  const lambda = theta + dPsi + dTau;

  const nu0 = mod360(
    280.46061837 + 360.98564736629 * (jd - 2451545) + 0.000387933 * jc ** 2 - jc ** 3 / 38710000,
  );
  const nu = nu0 + dPsi * Math.cos(eps * DEG);

  const lr = lambda * DEG;
  const er = eps * DEG;
  const br = beta * DEG;
  const alpha = mod360(
    Math.atan2(Math.sin(lr) * Math.cos(er) - Math.tan(br) * Math.sin(er), Math.cos(lr)) * RAD,
  );
  const delta = Math.asin(Math.sin(br) * Math.cos(er) + Math.cos(br) * Math.sin(er) * Math.sin(lr)) * RAD;

  return {
    alpha,
    delta,
    nu,
    radiusAu: R,
    heliocentricLongitude: L,
    heliocentricLatitude: B,
    nutationLongitude: dPsi,
    nutationObliquity: dEps,
    trueObliquity: eps,
    apparentLongitude: lambda,
    julianDay: jd,
  };
}

// Memo for the default ΔT only; bounded so a long-running service cannot grow it without limit.
const memo = new Map<number, Geocentric>();
const MEMO_LIMIT = 400_000;

export function geocentricCached(unixMs: number): Geocentric {
  let g = memo.get(unixMs);
  if (!g) {
    if (memo.size >= MEMO_LIMIT) memo.clear();
    g = geocentric(unixMs);
    memo.set(unixMs, g);
  }
  return g;
}

/** Topocentric zenith and azimuth for an observer, from the geocentric ephemeris. */
export function topocentric(g: Geocentric, obs: Observer): SolarPosition {
  const lat = obs.latitude * DEG;
  const elev = obs.elevation ?? 0;
  const pressure = obs.pressure ?? 1013.25 * (1 - 2.25577e-5 * elev) ** 5.25588;
  const temp = obs.temperature ?? 12;

  const H = mod360(g.nu + obs.longitude - g.alpha) * DEG;
  const xi = (8.794 / (3600 * g.radiusAu)) * DEG;
  const u = Math.atan(0.99664719 * Math.tan(lat));
  const x = Math.cos(u) + (elev / 6378140) * Math.cos(lat);
  const y = 0.99664719 * Math.sin(u) + (elev / 6378140) * Math.sin(lat);
  const delta = g.delta * DEG;
  const denom = Math.cos(delta) - x * Math.sin(xi) * Math.cos(H);
  const dAlpha = Math.atan2(-x * Math.sin(xi) * Math.sin(H), denom);
  const deltaP = Math.atan2((Math.sin(delta) - y * Math.sin(xi)) * Math.cos(dAlpha), denom);
  const Hp = H - dAlpha;

  const e0 =
    Math.asin(Math.sin(lat) * Math.sin(deltaP) + Math.cos(lat) * Math.cos(deltaP) * Math.cos(Hp)) * RAD;
  // Refraction only while the sun's upper limb can be above the horizon (SPA eq. 42).
  const dE =
    e0 >= -(0.26667 + 0.5667)
      ? (pressure / 1010) * (283 / (273 + temp)) * (1.02 / (60 * Math.tan((e0 + 10.3 / (e0 + 5.11)) * DEG)))
      : 0;
  const zenith = 90 - (e0 + dE);
  const gamma =
    Math.atan2(Math.sin(Hp), Math.cos(Hp) * Math.sin(lat) - Math.tan(deltaP) * Math.cos(lat)) * RAD;
  return { zenith, azimuth: mod360(gamma + 180), zenithGeometric: 90 - e0, radiusAu: g.radiusAu };
}

/** Solar position at an instant (UTC epoch ms). Pass deltaT to override the default ΔT. */
export function solarPosition(unixMs: number, obs: Observer, deltaT?: number): SolarPosition {
  const g = deltaT === undefined ? geocentricCached(unixMs) : geocentric(unixMs, deltaT);
  return topocentric(g, obs);
}
