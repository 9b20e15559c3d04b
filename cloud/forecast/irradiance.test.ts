import assert from 'node:assert/strict';
import { erbs, ghiFromCloudCover, haurwitz, ineichen, planeOfArray, relativeAirmass } from './irradiance.ts';

const E0 = 1361;

describe('clear-sky irradiance', () => {
  it('stays within physical bounds for every zenith and turbidity', () => {
    for (const tl of [2, 3, 5, 7]) {
      for (const alt of [0, 1500]) {
        for (let z = 0; z < 90; z += 0.5) {
          const c = ineichen(z, alt, tl, E0);
          const cosZ = Math.cos((z * Math.PI) / 180);
          assert.ok(c.ghi >= 0 && c.dni >= 0 && c.dhi >= 0, `negative at z=${z}`);
          assert.ok(c.ghi <= E0 * cosZ + 1e-9, `GHI above extraterrestrial at z=${z}`);
          assert.ok(c.dni <= E0, `DNI above extraterrestrial at z=${z}`);
          assert.ok(Math.abs(c.ghi - (c.dni * cosZ + c.dhi)) < 1e-6, 'closure GHI = DNI·cosZ + DHI');
        }
      }
    }
  });

  it('is dark with the sun below the horizon', () => {
    assert.deepEqual(ineichen(90.5, 0, 3, E0), { ghi: 0, dni: 0, dhi: 0 });
    assert.equal(haurwitz(95), 0);
  });

  it('gives typical clear-sky magnitudes and agrees with Haurwitz', () => {
    const noon = ineichen(20, 0, 3, E0);
    assert.ok(noon.ghi > 850 && noon.ghi < 1050, `GHI ${noon.ghi}`);
    assert.ok(noon.dni > 750 && noon.dni < 1000, `DNI ${noon.dni}`);
    for (const z of [10, 30, 50, 60]) {
      const a = ineichen(z, 0, 3, E0).ghi;
      const b = haurwitz(z);
      assert.ok(Math.abs(a - b) / b < 0.15, `z=${z}: Ineichen ${a} vs Haurwitz ${b}`);
    }
    // More turbidity, less beam.
    assert.ok(ineichen(30, 0, 5, E0).dni < ineichen(30, 0, 2, E0).dni);
    assert.ok(Math.abs(relativeAirmass(60) - 2) < 0.01);
  });
});

describe('decomposition and transposition', () => {
  it('Erbs splits GHI consistently, mostly diffuse when cloudy', () => {
    const clear = erbs(800, 30, E0);
    assert.ok(Math.abs(clear.dni * Math.cos(Math.PI / 6) + clear.dhi - 800) < 1e-6);
    const cloudy = erbs(100, 30, E0);
    assert.ok(cloudy.dhi / cloudy.ghi > 0.9);
  });

  it('a horizontal plane sees GHI; a sun-facing plane sees more at low sun', () => {
    const sun = { zenith: 60, azimuth: 180, dniExtra: E0 };
    const irr = ineichen(60, 0, 3, E0);
    assert.ok(Math.abs(planeOfArray(irr, sun, 0, 180) - irr.ghi) < 1e-6);
    assert.ok(planeOfArray(irr, sun, 60, 180) > irr.ghi * 1.3);
    assert.ok(planeOfArray(irr, sun, 60, 0) < irr.ghi * 0.5, 'facing away from the sun');
  });

  it('cloud cover attenuates GHI (Kasten–Czeplak)', () => {
    assert.equal(ghiFromCloudCover(800, 0), 800);
    assert.ok(Math.abs(ghiFromCloudCover(800, 1) - 200) < 1e-9);
  });
});
