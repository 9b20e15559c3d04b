import assert from 'node:assert/strict';
import { syntheticPv } from '../../test-support/forecast/synthetic.ts';
import { forecastSite } from './forecast-site.ts';
import { nwpSeries, parseNwpJson } from './nwp.ts';

const H = 3_600_000;
const DAY = 24 * H;

/** An Open-Meteo-shaped run: local times without offset, radiation as the mean of the preceding hour. */
function run(
  issuedAt: string,
  firstLocal: string,
  hours: number,
  ghi: (h: number) => number | null,
  extra = {},
) {
  const t0 = Date.parse(`${firstLocal}Z`);
  const time = Array.from({ length: hours }, (_, h) => new Date(t0 + h * H).toISOString().slice(0, 16));
  return {
    latitude: 48.1,
    longitude: 11.6,
    utc_offset_seconds: 0,
    issued_at: issuedAt,
    hourly_units: { time: 'iso8601', shortwave_radiation: 'W/m²', cloud_cover: '%' },
    hourly: { time, shortwave_radiation: time.map((_, h) => ghi(h)), ...extra },
  };
}

describe('NWP point-forecast JSON', () => {
  it('reads times with the UTC offset, radiation as the preceding hour, cloud cover in %, nulls as gaps', () => {
    const doc = {
      utc_offset_seconds: 7200,
      issued_at: '2024-06-01T00:00:00Z',
      hourly: {
        time: ['2024-06-01T12:00', '2024-06-01T13:00', '2024-06-01T14:00'],
        shortwave_radiation: [600, null, 400],
        direct_normal_irradiance: [700, 650, 500],
        diffuse_radiation: [100, 110, 120],
        cloud_cover: [20, 50, 100],
        temperature_2m: [21.5, 22, 22.5],
      },
    };
    const [r] = parseNwpJson(JSON.stringify(doc), 'f.json');
    assert.equal(r.issuedAt, Date.UTC(2024, 5, 1));
    // 12:00 at UTC+2 is 10:00 UTC; the 12:00 radiation value is the mean over 09:00–10:00 UTC.
    assert.equal(r.start, Date.UTC(2024, 5, 1, 10));
    assert.equal(r.radiationStart, Date.UTC(2024, 5, 1, 9));
    const q = 15 * 60_000;
    const from = Date.UTC(2024, 5, 1, 9);
    const ghi = nwpSeries([r], 'ghi', Date.UTC(2024, 5, 2), from, from + 4 * H, q);
    assert.deepEqual(Array.from(ghi.values.slice(0, 4)), [600, 600, 600, 600]);
    assert.ok(ghi.values.slice(4, 8).every(Number.isNaN), 'null is a gap');
    assert.deepEqual(Array.from(ghi.values.slice(8, 12)), [400, 400, 400, 400]);
    assert.ok(ghi.values.slice(12).every(Number.isNaN), 'after the run');
    const cc = nwpSeries(
      [r],
      'cloudCover',
      Date.UTC(2024, 5, 2),
      Date.UTC(2024, 5, 1, 10),
      Date.UTC(2024, 5, 1, 13),
      H,
    );
    assert.deepEqual(Array.from(cc.values), [0.2, 0.5, 1]);
    assert.deepEqual(Array.from(r.dni ?? []), [700, 650, 500]);
    assert.deepEqual(Array.from(r.temperature ?? []), [21.5, 22, 22.5]);
  });

  it('refuses bad input naming the run and the key', () => {
    const ok = run('2024-06-01T00:00:00Z', '2024-06-01T00:00', 3, () => 1);
    const bad = (x: unknown) => () => parseNwpJson(JSON.stringify(x), 'w.json');
    assert.throws(bad({ ...ok, issued_at: undefined }), /w\.json: issued_at is required/);
    assert.throws(bad({ ...ok, issued_at: '2024-06-01 00:00' }), /issued_at must be an ISO 8601 instant/);
    assert.throws(
      bad([ok, { ...ok, hourly: { ...ok.hourly, shortwave_radiation: [1] } }]),
      /w\.json run 1: hourly\.shortwave_radiation must be an array as long as hourly\.time \(3\)/,
    );
    assert.throws(
      bad({ ...ok, hourly: { ...ok.hourly, shortwave_radiation: [1, 'x', 2] } }),
      /hourly\.shortwave_radiation\[1\] must be a number or null/,
    );
    assert.throws(
      bad({ ...ok, hourly: { time: ok.hourly.time, wind: [1, 2, 3] } }),
      /hourly has none of shortwave_radiation/,
    );
    assert.throws(
      bad({
        ...ok,
        hourly: { ...ok.hourly, time: ['2024-06-01T00:00', '2024-06-01T02:00', '2024-06-01T03:00'] },
      }),
      /hourly\.time\[1\] is not one hour after/,
    );
    assert.throws(() => parseNwpJson('{oops', 'w.json'), /w\.json: not valid JSON/);
  });

  it('a day-ahead forecast never uses a run issued after it', () => {
    const site = { latitude: 48.1, longitude: 11.6, tilt: 30, azimuth: 180, capacity: 5 };
    const start = Date.UTC(2024, 4, 1);
    const hist = syntheticPv({ start, days: 30, stepMs: 900_000, seed: 3, site, clearProbability: 0.5 });
    const issue = start + 30 * DAY; // 2024-05-31 00:00 UTC
    const sunny = (h: number) => Math.max(0, 800 * Math.sin((Math.PI * ((h % 24) - 5)) / 15));
    // Issued the day before, covering the history's last days and the forecast day.
    const before = run('2024-05-30T12:00:00Z', '2024-05-25T00:00', 8 * 24, sunny);
    // Issued six hours after the forecast: dark all day. Must not be seen at 00:00.
    const after = run('2024-05-31T06:00:00Z', '2024-05-31T00:00', 48, () => 0);
    const opts = {
      kind: 'pv' as const,
      issueTime: issue,
      site: { latitude: 48.1, longitude: 11.6, capacity: 5 },
    };
    const both = forecastSite(hist, {
      ...opts,
      nwp: parseNwpJson(JSON.stringify([before, after]), 'runs.json'),
    });
    const onlyBefore = forecastSite(hist, { ...opts, nwp: parseNwpJson(JSON.stringify(before), 'a.json') });
    assert.deepEqual(both.p50, onlyBefore.p50);
    assert.equal(both.details.weatherIntervals, 96);
    const noon = 12 * 4;
    assert.ok(both.p50[noon] > 1, `sunny weather at noon: ${both.p50[noon]}`);
    // Issued after the dark run, the forecast does follow it: below the one that only knows the sunny run.
    const later = (runs: unknown) =>
      forecastSite(hist, {
        ...opts,
        issueTime: issue + 6 * H,
        horizonMs: 18 * H,
        nwp: parseNwpJson(JSON.stringify(runs), 'runs.json'),
      });
    const dark = later([before, after]);
    const sunnyOnly = later(before);
    const at = 6 * 4; // 12:00 UTC
    assert.ok(
      dark.mean[at] < 0.8 * sunnyOnly.mean[at],
      `dark ${dark.mean[at]} vs sunny ${sunnyOnly.mean[at]}`,
    );
  });

  it('uses the run’s own DNI/DHI split when it has one', () => {
    const site = { latitude: 48.1, longitude: 11.6, tilt: 30, azimuth: 180, capacity: 5 };
    const start = Date.UTC(2024, 4, 1);
    const hist = syntheticPv({ start, days: 30, stepMs: 900_000, seed: 3, site, clearProbability: 0.5 });
    const sunny = (h: number) => Math.max(0, 800 * Math.sin((Math.PI * ((h % 24) - 5)) / 15));
    const ghiOnly = run('2024-05-30T12:00:00Z', '2024-05-25T00:00', 8 * 24, sunny);
    // The same GHI, all of it diffuse (DNI 0): a south-tilted array then gets less than with the
    // beam Erbs would have split off.
    const diffuse = {
      ...ghiOnly,
      hourly: {
        ...ghiOnly.hourly,
        direct_normal_irradiance: ghiOnly.hourly.time.map(() => 0),
        diffuse_radiation: ghiOnly.hourly.shortwave_radiation,
      },
    };
    const opts = {
      kind: 'pv' as const,
      issueTime: start + 30 * DAY,
      site: { latitude: 48.1, longitude: 11.6, capacity: 5 },
    };
    const a = forecastSite(hist, { ...opts, nwp: parseNwpJson(JSON.stringify(ghiOnly), 'a.json') });
    const b = forecastSite(hist, { ...opts, nwp: parseNwpJson(JSON.stringify(diffuse), 'b.json') });
    const noon = 11 * 4;
    assert.ok(
      b.mean[noon] < 0.95 * a.mean[noon],
      `all-diffuse ${b.mean[noon]} vs split by Erbs ${a.mean[noon]}`,
    );
  });
});
