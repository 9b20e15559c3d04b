import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegularSeries } from '../../cloud/forecast/series.ts';
import { syntheticLoad, syntheticPv } from '../../test-support/forecast/synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'gridlayer-forecast-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeCsv(name: string, s: RegularSeries, offset = '+01:00'): string {
  const lines = ['timestamp,value'];
  const offMs = offset === 'Z' ? 0 : 3_600_000;
  s.values.forEach((v, i) => {
    const local = new Date(s.start + i * s.stepMs + offMs).toISOString().slice(0, 19);
    lines.push(`${local}${offset},${v.toFixed(4)}`);
  });
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/gridlayer.js', 'forecast', 'backtest', ...args], {
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('gridlayer forecast backtest', () => {
  it('prints one JSON object with model and baseline scores for load', () => {
    const s = syntheticLoad({
      start: Date.UTC(2023, 11, 31, 23),
      days: 60,
      stepMs: 900_000,
      timeZone: 'Europe/Berlin',
      seed: 21,
    });
    const file = writeCsv('load.csv', s);
    const r = cli(
      '--input',
      file,
      '--kind',
      'load',
      '--timezone',
      'Europe/Berlin',
      '--test-days',
      '14',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    for (const m of [out.model, out.baselines.persistence_1d, out.baselines.persistence_7d]) {
      for (const k of ['mae_kw', 'rmse_kw', 'nmae', 'intervals']) assert.equal(typeof m[k], 'number', k);
    }
    assert.equal(out.model.intervals, 14 * 96);
    assert.equal(out.forecasts_issued, 14);
    assert.equal(out.first_issue.slice(11), '23:00:00.000Z', 'issued at 00:00 Berlin time');
    assert.ok(out.skill > 0.1, `skill ${out.skill}`);
    assert.equal(out.skill, out.model.skill);
    for (const q of ['p10', 'p50', 'p90', 'mean']) assert.ok(out.pinball_kw[q] > 0, q);
  });

  it('prints per-month skill and P10–P90 coverage in the human output', () => {
    const s = syntheticLoad({
      start: Date.UTC(2023, 11, 31, 23),
      days: 60,
      stepMs: 900_000,
      timeZone: 'Europe/Berlin',
      seed: 23,
    });
    const file = writeCsv('load-months.csv', s);
    const r = cli('--input', file, '--kind', 'load', '--timezone', 'Europe/Berlin', '--test-days', '40');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^per month/m);
    // Test days 2024-01-21 … 2024-02-29: 11 in January, 29 in February.
    const rows = r.stdout.split('\n').filter((l) => /^\d{4}-\d{2} /.test(l));
    assert.deepEqual(
      rows.map((l) => l.split(/\s+/).slice(0, 2)),
      [
        ['2024-01', '11'],
        ['2024-02', '29'],
      ],
    );
    for (const l of rows) assert.match(l, /-?\d\.\d{3}\s+\d{1,3}\.\d%$/, l);
  });

  it('--intraday scores hourly updates per lead time against 5-minute persistence', () => {
    const s = syntheticLoad({
      start: Date.UTC(2024, 0, 1),
      days: 30,
      stepMs: 300_000,
      timeZone: 'UTC',
      seed: 24,
    });
    const file = writeCsv('load-5min.csv', s, 'Z');
    const r = cli('--input', file, '--kind', 'load', '--test-days', '3', '--intraday', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.resolution_minutes, 5);
    assert.equal(out.forecasts_issued, 3 * 23);
    assert.deepEqual(
      out.buckets.map((b: { lead_minutes: number[] }) => b.lead_minutes[1]),
      [30, 60, 120, 240, 360],
    );
    for (const b of out.buckets) assert.ok(b.skill > 0, `skill ${b.skill} at ${b.lead_minutes}`);
    const human = cli('--input', file, '--kind', 'load', '--test-days', '3', '--intraday');
    assert.match(human.stdout, /^240–360\s/m);
  });

  it('backtests PV with location and capacity, hourly resolution', () => {
    const site = { latitude: 52.5, longitude: 13.4, tilt: 35, azimuth: 170, capacity: 6 };
    const s = syntheticPv({
      start: Date.UTC(2024, 4, 1),
      days: 40,
      stepMs: 900_000,
      seed: 22,
      site,
      clearProbability: 0.6,
    });
    const file = writeCsv('pv.csv', s, 'Z');
    const r = cli(
      '--input',
      file,
      '--kind',
      'pv',
      '--lat',
      '52.5',
      '--lon',
      '13.4',
      '--capacity-kw',
      '6',
      '--resolution',
      '1h',
      '--test-days',
      '10',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.resolution_minutes, 60);
    assert.equal(out.model_version, 'pv-clearsky-index/2');
    assert.ok(out.model.mae_kw < out.baselines.persistence_7d.mae_kw);
  });

  it('names the line of bad input and exits non-zero', () => {
    const file = join(dir, 'bad.csv');
    writeFileSync(
      file,
      'timestamp,value\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,1.2\n2024-01-01T00:30Z,oops\n',
    );
    const r = cli('--input', file, '--kind', 'load', '--json');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.csv line 4: non-numeric value "oops"/);
    assert.equal(r.stdout, '');
  });

  it('explains too little history and bad options', () => {
    const s = syntheticLoad({
      start: Date.UTC(2024, 0, 1),
      days: 10,
      stepMs: 3_600_000,
      timeZone: 'UTC',
      seed: 23,
    });
    const file = writeCsv('short.csv', s, 'Z');
    const r = cli('--input', file, '--kind', 'load', '--test-days', '5', '--json');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /too little history.*line 2 to line 241/);
    assert.match(cli('--input', file, '--kind', 'wind').stderr, /--kind must be load or pv/);
    assert.match(cli('--input', file, '--kind', 'pv').stderr, /needs --lat and --lon/);
    assert.match(
      cli('--input', file, '--kind', 'load', '--timezone', 'Nowhere/City').stderr,
      /unknown time zone/,
    );
    assert.match(
      cli('--input', join(dir, 'missing.csv'), '--kind', 'load').stderr,
      /cannot read file .*ENOENT/,
    );
  });
});
