import assert from 'node:assert/strict';
import { geocentric, solarPosition } from './solar-position.ts';

// Reference values: Reda & Andreas, NREL/TP-560-34302, Table A5.1 (example in the paper):
// 2003-10-17 12:30:30 local time, UTC−7, Golden CO, ΔT = 67 s.
const T = Date.UTC(2003, 9, 17, 19, 30, 30);
const GOLDEN = {
  latitude: 39.742476,
  longitude: -105.1786,
  elevation: 1830.14,
  pressure: 820,
  temperature: 11,
};

describe('solar position (NREL SPA)', () => {
  it('matches the SPA paper example: zenith 50.11162°, azimuth 194.34024°', () => {
    const p = solarPosition(T, GOLDEN, 67);
    assert.ok(Math.abs(p.zenith - 50.11162) < 1e-5, `zenith ${p.zenith}`);
    assert.ok(Math.abs(p.azimuth - 194.34024) < 1e-5, `azimuth ${p.azimuth}`);
  });

  it('matches the paper’s intermediate values', () => {
    const g = geocentric(T, 67);
    const close = (a: number, b: number, tol: number, what: string) =>
      assert.ok(Math.abs(a - b) < tol, `${what}: ${a} vs ${b}`);
    close(g.julianDay, 2452930.312847, 1e-6, 'JD');
    close(g.heliocentricLongitude, 24.0182616917, 1e-8, 'L');
    close(g.heliocentricLatitude, -0.0001011219, 1e-9, 'B');
    close(g.radiusAu, 0.9965422974, 1e-9, 'R');
    close(g.nutationLongitude, -0.0039984, 1e-7, 'Δψ');
    close(g.nutationObliquity, 0.00166657, 1e-7, 'Δε');
    close(g.trueObliquity, 23.440465, 1e-6, 'ε');
    close(g.apparentLongitude, 204.0085519281, 1e-8, 'λ');
    close(g.alpha, 202.22741, 1e-5, 'α');
    close(g.delta, -9.31434, 1e-5, 'δ');
  });

  it('puts the sun due south at local solar noon in the northern mid-latitudes and below the horizon at midnight', () => {
    // Greenwich, 2024-06-21: solar noon ≈ 12:01:40 UTC (equation of time ≈ −1.7 min).
    const noon = solarPosition(Date.UTC(2024, 5, 21, 12, 1, 40), { latitude: 51.4769, longitude: 0 });
    assert.ok(Math.abs(noon.azimuth - 180) < 0.5, `azimuth ${noon.azimuth}`);
    // Zenith at solstice noon = latitude − declination (23.44°), minus a little refraction.
    assert.ok(Math.abs(noon.zenith - (51.4769 - 23.435)) < 0.05, `zenith ${noon.zenith}`);
    const midnight = solarPosition(Date.UTC(2024, 5, 21, 0, 1, 40), { latitude: 51.4769, longitude: 0 });
    assert.ok(midnight.zenith > 90);
  });

  it('gives the southern hemisphere a northern noon sun', () => {
    const p = solarPosition(Date.UTC(2024, 0, 15, 2, 0), { latitude: -33.87, longitude: 151.21 }); // Sydney ~13:00 AEDT
    assert.ok(p.azimuth < 30 || p.azimuth > 330, `azimuth ${p.azimuth}`);
  });
});
