/**
 * Clear-sky irradiance, decomposition and transposition. Angles in degrees, irradiance in W/m².
 * Models: Ineichen–Perez clear sky (Ineichen & Perez 2002, as in pvlib with perez_enhancement off),
 * Haurwitz (1945) as a cross-check, Erbs et al. (1982) GHI→DNI/DHI split, Hay–Davies (1980) sky
 * diffuse transposition with isotropic ground reflection.
 */
const DEG = Math.PI / 180;

/** Solar constant (W/m²) at 1 AU; Kopp & Lean 2011. */
export const SOLAR_CONSTANT = 1361;

export function extraterrestrialNormal(radiusAu: number): number {
  return SOLAR_CONSTANT / (radiusAu * radiusAu);
}

/** Relative optical air mass, Kasten & Young (1989); NaN with the sun below the horizon. */
export function relativeAirmass(zenith: number): number {
  if (zenith >= 90) return Number.NaN;
  return 1 / (Math.cos(zenith * DEG) + 0.50572 * (96.07995 - zenith) ** -1.6364);
}

export function pressureAtAltitude(altitudeM: number): number {
  return 101325 * (1 - 2.25577e-5 * altitudeM) ** 5.25588;
}

export interface Irradiance {
  ghi: number;
  dni: number;
  dhi: number;
}

const DARK: Irradiance = { ghi: 0, dni: 0, dhi: 0 };

/**
 * Ineichen–Perez clear-sky model. linkeTurbidity ~2 (very clean) … 3 (typical rural) … 5+ (hazy, urban).
 */
export function ineichen(
  zenith: number,
  altitudeM: number,
  linkeTurbidity: number,
  dniExtra: number,
): Irradiance {
  if (zenith >= 90) return DARK;
  const cosZ = Math.cos(zenith * DEG);
  const am = relativeAirmass(zenith) * (pressureAtAltitude(altitudeM) / 101325);
  const tl = linkeTurbidity;
  const fh1 = Math.exp(-altitudeM / 8000);
  const fh2 = Math.exp(-altitudeM / 1250);
  const cg1 = 5.09e-5 * altitudeM + 0.868;
  const cg2 = 3.92e-5 * altitudeM + 0.0387;
  const ghi = Math.max(0, cg1 * dniExtra * cosZ * Math.exp(-cg2 * am * (fh1 + fh2 * (tl - 1))));
  const b = 0.664 + 0.163 / fh1;
  const bnci = b * Math.exp(-0.09 * am * (tl - 1)) * dniExtra;
  const bnci2 = ghi * Math.max(0, (1 - (0.1 - 0.2 * Math.exp(-tl)) / (0.1 + 0.882 / fh1)) / cosZ);
  const dni = Math.max(0, Math.min(bnci, bnci2));
  return { ghi, dni, dhi: Math.max(0, ghi - dni * cosZ) };
}

/** Haurwitz clear-sky GHI (needs only the zenith). */
export function haurwitz(zenith: number): number {
  if (zenith >= 90) return 0;
  const cosZ = Math.cos(zenith * DEG);
  return 1098 * cosZ * Math.exp(-0.059 / cosZ);
}

/** Erbs decomposition of measured or forecast GHI into DNI and DHI. */
export function erbs(ghi: number, zenith: number, dniExtra: number): Irradiance {
  if (zenith >= 90 || ghi <= 0) return DARK;
  const cosZ = Math.cos(zenith * DEG);
  // Clearness index with cos(zenith) floored as pvlib does, so dawn/dusk do not blow up.
  const kt = Math.min(1, Math.max(0, ghi / (dniExtra * Math.max(cosZ, 0.065))));
  let df: number;
  if (kt <= 0.22) df = 1 - 0.09 * kt;
  else if (kt <= 0.8) df = 0.9511 - 0.1604 * kt + 4.388 * kt ** 2 - 16.638 * kt ** 3 + 12.336 * kt ** 4;
  else df = 0.165;
  const dhi = df * ghi;
  const dni = cosZ > 0.065 ? Math.max(0, (ghi - dhi) / cosZ) : 0;
  return { ghi, dni, dhi };
}

export interface SunGeometry {
  zenith: number;
  azimuth: number;
  dniExtra: number;
}

/** Cosine of the angle of incidence on a plane with the given tilt and azimuth (deg from north). */
export function cosIncidence(sun: SunGeometry, tilt: number, azimuth: number): number {
  const z = sun.zenith * DEG;
  const t = tilt * DEG;
  return Math.cos(z) * Math.cos(t) + Math.sin(z) * Math.sin(t) * Math.cos((sun.azimuth - azimuth) * DEG);
}

/** Plane-of-array irradiance, Hay–Davies sky diffuse plus isotropic ground reflection. */
export function planeOfArray(
  irr: Irradiance,
  sun: SunGeometry,
  tilt: number,
  azimuth: number,
  albedo = 0.2,
): number {
  if (sun.zenith >= 90 || irr.ghi <= 0) return 0;
  const cosAoi = cosIncidence(sun, tilt, azimuth);
  const cosZ = Math.max(Math.cos(sun.zenith * DEG), 0.01745); // cap Rb at zenith 89°
  const beam = irr.dni * Math.max(cosAoi, 0);
  const ai = Math.min(1, irr.dni / sun.dniExtra);
  const rb = Math.max(cosAoi, 0) / cosZ;
  const cosT = Math.cos(tilt * DEG);
  const sky = irr.dhi * (ai * rb + (1 - ai) * (1 + cosT) * 0.5);
  const ground = irr.ghi * albedo * (1 - cosT) * 0.5;
  return Math.max(0, beam + sky + ground);
}

/** Kasten & Czeplak (1980): GHI under fractional cloud cover c ∈ [0,1] from clear-sky GHI. */
export function ghiFromCloudCover(clearGhi: number, cloudCover: number): number {
  const c = Math.min(1, Math.max(0, cloudCover));
  return clearGhi * (1 - 0.75 * c ** 3.4);
}
