/**
 * Commissioning: what an installer runs once on site. Scans a Modbus TCP host or RS-485 bus, identifies
 * each SunSpec device, shows live canonical values with their units, performs a test write (a value
 * different from the one the control point holds, read back, then the original restored and read
 * back: proves the device takes writes, and leaves it as it was), and produces a JSON, Markdown and
 * HTML report and a ready edge configuration.
 */

import { stringify } from 'yaml';
import { CANONICAL_POINTS, type Nameplate } from '../protocols/canonical/points.ts';
import type { RegisterIO } from '../protocols/modbus/client.ts';
import type { DecodedModel } from '../protocols/sunspec/codec.ts';
import { type ScannedUnit, scanUnits } from '../protocols/sunspec/scan.ts';
import { writePoint } from '../protocols/sunspec/write.ts';
import { nameplateFrom, normalize } from './drivers/normalize.ts';
import { kindFromModels } from './drivers/sunspec.ts';
import type { CanonicalValues } from './drivers/types.ts';
import { quirksFor } from './quirks.ts';

/**
 * Control points the test write may change for a moment, in order of preference, with the value to
 * write: the active power limit moves by 10 points of % (towards the middle: it never opens a limit
 * beyond 100 % nor goes below 0 %), a revert timer by one second. Both are restored at once.
 */
const TEST_WRITES: Array<[number, string, (v: number) => number]> = [
  [704, 'WMaxLimPct', (v) => (v >= 50 ? v - 10 : v + 10)],
  [123, 'WMaxLimPct', (v) => (v >= 50 ? v - 10 : v + 10)],
  [704, 'WSetRvrtTms', (v) => (v >= 1 ? v - 1 : v + 1)],
  [124, 'InOutWRte_RvrtTms', (v) => (v >= 1 ? v - 1 : v + 1)],
];

/** The unit of a canonical point or nameplate rating (w_max → W), '' when it has none. */
export function unitOf(key: string): string {
  const p = CANONICAL_POINTS[key as keyof typeof CANONICAL_POINTS];
  if (p) return p.unit;
  const head = key.split('_')[0];
  return ({ w: 'W', va: 'VA', var: 'var', wh: 'Wh', a: 'A', v: 'V' } as Record<string, string>)[head] ?? '';
}

/** A value with its unit: "8000 W", "49.98 Hz", "0.99" (no unit). */
export function withUnit(key: string, v: number | string): string {
  const u = unitOf(key);
  const n = typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : v;
  return u ? `${n} ${u}` : n;
}

export interface TestWrite {
  point?: string;
  ok: boolean;
  detail: string;
  /** The value the point held, the one written, and what the device read back after each write. */
  original?: number;
  written?: number;
  readBack?: number;
  restored?: number;
}

export interface CommissionedDevice {
  unit: number;
  kind?: string;
  manufacturer?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  models: number[];
  nameplate: Nameplate;
  live: CanonicalValues;
  liveIssues: string[];
  testWrite: TestWrite;
  errors: string[];
}

export interface CommissionReport {
  at: string;
  endpoint: string;
  unitsScanned: number[];
  devices: CommissionedDevice[];
}

export async function commission(
  io: RegisterIO,
  units: number[],
  opts: { write: boolean; onProgress?: (msg: string) => void },
): Promise<CommissionReport> {
  const scanned = await scanUnits(
    io,
    units,
    (p) => p.done < p.total && opts.onProgress?.(`scanning unit ${p.unit} (${p.done + 1}/${p.total})`),
  );
  const devices: CommissionedDevice[] = [];
  for (const u of scanned.filter((x) => x.base !== undefined))
    devices.push(await commissionUnit(io, u, opts));
  return { at: new Date().toISOString(), endpoint: io.endpoint, unitsScanned: units, devices };
}

async function commissionUnit(
  io: RegisterIO,
  u: ScannedUnit,
  opts: { write: boolean; onProgress?: (m: string) => void },
): Promise<CommissionedDevice> {
  const decoded = u.models.map((m) => m.decoded).filter((d): d is DecodedModel => d !== undefined);
  const ids = u.models.map((m) => m.id);
  const kind = kindFromModels(ids);
  const nameplate = nameplateFrom(
    [702, 120, 802, 713, 124].flatMap((id) => decoded.filter((m) => m.id === id)),
  );
  const identity = {
    manufacturer: u.identity?.manufacturer,
    model: u.identity?.model,
    serial: u.identity?.serial,
    firmware: u.identity?.version,
  };
  const reading = normalize(decoded, {
    kind: kind ?? 'inverter',
    nameplate,
    quirks: quirksFor(identity),
    ts: Date.now(),
  });
  const dev: CommissionedDevice = {
    unit: u.unit,
    kind,
    ...identity,
    models: ids,
    nameplate,
    live: reading.values,
    liveIssues: Object.entries(reading.quality).map(([k, q]) => `${k}: ${q}`),
    testWrite: { ok: false, detail: 'not attempted' },
    errors: u.errors,
  };
  if (!opts.write) dev.testWrite = { ok: false, detail: 'skipped (--no-write)' };
  else if (kind === 'meter')
    dev.testWrite = { ok: true, detail: 'meter: no control points, nothing to test' };
  else {
    const target = TEST_WRITES.find(([id]) => ids.includes(id));
    const m = target && u.models.find((x) => x.id === target[0]);
    const value = m?.decoded?.values[target?.[1] ?? ''];
    if (!target || !m || typeof value !== 'number')
      dev.testWrite = { ok: false, detail: 'no writable control point found' };
    else dev.testWrite = await testWrite(io, u.unit, m, target[1], value, target[2](value), opts.onProgress);
  }
  return dev;
}

/** Writes `test` where `original` was, reads it back, restores `original` and reads that back. */
async function testWrite(
  io: RegisterIO,
  unit: number,
  m: ScannedUnit['models'][number],
  name: string,
  original: number,
  test: number,
  onProgress?: (m: string) => void,
): Promise<TestWrite> {
  const point = `${m.id}.${name}`;
  const { getModel } = await import('../protocols/sunspec/models/index.ts');
  const loc = { id: m.id, address: m.address, length: m.length, def: getModel(m.id) };
  const base = { point, original, written: test };
  onProgress?.(`unit ${unit}: test write ${point} ${original} → ${test}, then back to ${original}`);
  let readBack: number | undefined;
  try {
    const b = await writePoint(io, unit, loc, name, test);
    readBack = typeof b === 'number' ? b : undefined;
  } catch (err) {
    // The device may still hold the test value: try to restore it all the same.
    const restored = await writePoint(io, unit, loc, name, original).catch(() => undefined);
    return {
      ...base,
      ok: false,
      detail: `write of ${test} failed: ${(err as Error).message}${restored === original ? `; ${original} restored` : `; RESTORE FAILED, check ${point}`}`,
    };
  }
  let restored: number | undefined;
  let restoreError = '';
  try {
    const r = await writePoint(io, unit, loc, name, original);
    restored = typeof r === 'number' ? r : undefined;
  } catch (err) {
    restoreError = (err as Error).message;
  }
  const r = { ...base, readBack, restored };
  if (restored !== original)
    return {
      ...r,
      ok: false,
      detail: `RESTORE FAILED: wrote ${original} back, read ${restored ?? restoreError}; check ${point} on the device`,
    };
  if (readBack !== test)
    return {
      ...r,
      ok: false,
      detail: `wrote ${test}, read back ${readBack}: the device did not take it; ${original} restored`,
    };
  return {
    ...r,
    ok: true,
    detail: `wrote ${test}, read back ${readBack}; restored ${original}, read back ${restored}`,
  };
}

const testWriteCell = (t: TestWrite) =>
  `${t.ok ? 'OK' : 'FAILED/SKIPPED'}: ${t.point ?? ''} ${t.detail}`.replace(/ +/g, ' ');

const SIGNS = 'power + = delivered (generated, discharged, exported), − = absorbed; meter + = export';

export function reportMarkdown(r: CommissionReport): string {
  const lines = [
    `# Commissioning report`,
    '',
    `- Date: ${r.at}`,
    `- Endpoint: ${r.endpoint}`,
    `- Unit ids scanned: ${r.unitsScanned.join(', ')}`,
    `- SunSpec devices found: ${r.devices.length}`,
    '',
  ];
  for (const d of r.devices) {
    lines.push(
      `## Unit ${d.unit}: ${d.kind ?? 'unknown kind'} — ${d.manufacturer ?? '?'} ${d.model ?? ''}`,
      '',
    );
    lines.push('| | |', '|---|---|');
    lines.push(
      `| Serial | ${d.serial ?? '—'} |`,
      `| Firmware | ${d.firmware ?? '—'} |`,
      `| SunSpec models | ${d.models.join(', ')} |`,
    );
    for (const [k, v] of Object.entries(d.nameplate)) lines.push(`| Nameplate ${k} | ${withUnit(k, v)} |`);
    lines.push(`| Test write | ${testWriteCell(d.testWrite)} |`, '');
    lines.push(`Live values (${SIGNS}):`, '');
    for (const [k, v] of Object.entries(d.live)) lines.push(`- ${k}: ${withUnit(k, v as number | string)}`);
    for (const i of d.liveIssues) lines.push(`- ⚠ ${i}`);
    for (const e of d.errors) lines.push(`- error: ${e}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

const esc = (v: unknown) => String(v ?? '—').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The report as one self-contained HTML page (no scripts, no external resources) to open in a browser. */
export function reportHtml(r: CommissionReport): string {
  const row = (k: string, v: unknown, cls = '') =>
    `<tr${cls ? ` class="${cls}"` : ''}><th>${esc(k)}</th><td>${esc(v)}</td></tr>`;
  const devices = r.devices
    .map((d) => {
      const rows = [
        row('Serial', d.serial),
        row('Firmware', d.firmware),
        row('SunSpec models', d.models.join(', ')),
        ...Object.entries(d.nameplate).map(([k, v]) => row(`Nameplate ${k}`, withUnit(k, v))),
        row('Test write', testWriteCell(d.testWrite), d.testWrite.ok ? 'ok' : 'bad'),
      ];
      const live = Object.entries(d.live).map(
        ([k, v]) =>
          `<tr><th>${esc(k)}</th><td class="num">${esc(withUnit(k, v as number | string))}</td><td>${esc(CANONICAL_POINTS[k as keyof typeof CANONICAL_POINTS]?.description ?? '')}</td></tr>`,
      );
      const issues = [...d.liveIssues.map((i) => `⚠ ${i}`), ...d.errors.map((e) => `error: ${e}`)];
      return [
        `<section><h2>Unit ${esc(d.unit)}: ${esc(d.kind ?? 'unknown kind')} — ${esc(d.manufacturer ?? '?')} ${esc(d.model ?? '')}</h2>`,
        `<table>${rows.join('')}</table>`,
        `<h3>Live values</h3><p class="note">${esc(SIGNS)}</p><table>${live.join('')}</table>`,
        issues.length ? `<ul class="bad">${issues.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>` : '',
        '</section>',
      ].join('\n');
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Commissioning report ${esc(r.endpoint)} ${esc(r.at)}</title>
<style>body{font:15px/1.4 system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}th{background:#f4f4f4;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}.ok td{color:#075e07}.bad,.bad td{color:#a00000}.note{color:#555}</style>
</head><body>
<h1>Commissioning report</h1>
<table>${row('Date', r.at)}${row('Endpoint', r.endpoint)}${row('Unit ids scanned', r.unitsScanned.join(', '))}${row('SunSpec devices found', r.devices.length)}</table>
${devices}
</body></html>
`;
}

/** What an installer replaces when no secret was given: `gridlayer edge --check` refuses it. */
export const PASSWORD_PLACEHOLDER = 'CHANGE-ME';

/**
 * A ready edge config for the site. The broker knows a gateway by its site id: the username IS the
 * site id (cloud/broker/acl.ts). With `uplink` (the uplink section of a config `gridlayer enrol`
 * wrote) the config logs in as enrolled; else with `password` (the secret the cloud issued for the
 * site); else the placeholder stays, and `edge --check` says what to fill in.
 */
export function edgeConfigYaml(
  r: CommissionReport,
  opts: {
    site: string;
    mqttUrl: string;
    line: Record<string, unknown>;
    password?: string;
    ca?: string;
    bufferPath?: string;
    uplink?: Record<string, unknown>;
  },
): string {
  const doc = {
    site: opts.site,
    uplink: opts.uplink ?? {
      url: opts.mqttUrl,
      username: opts.site,
      password: opts.password ?? PASSWORD_PLACEHOLDER,
      ...(opts.ca && { ca: opts.ca }),
    },
    buffer: { path: opts.bufferPath ?? '/var/lib/gridlayer/buffer.db' },
    limits: {},
    devices: r.devices.map((d) => ({
      id: `${d.kind ?? 'device'}-${d.unit}`,
      ...opts.line,
      unit: d.unit,
      ...(d.kind && { kind: d.kind }),
      pollMs: 1000,
    })),
  };
  const todo =
    opts.uplink || opts.password
      ? 'review limits'
      : `review limits; set uplink.password (now ${PASSWORD_PLACEHOLDER}), or enrol: gridlayer enrol --config <this file>`;
  return `# Generated by gridlayer commission on ${r.at}; ${todo}.\n${stringify(doc)}`;
}
