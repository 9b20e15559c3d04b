/**
 * Commissioning: what an installer runs once on site. Scans a Modbus TCP host or RS-485 bus, identifies
 * each SunSpec device, shows live canonical values, performs a safe test write (the value a control
 * point already holds, written back and read back: proves write access without changing anything),
 * and produces a JSON + Markdown report and a ready edge configuration.
 */

import { stringify } from 'yaml';
import type { Nameplate } from '../protocols/canonical/points.ts';
import type { RegisterIO } from '../protocols/modbus/client.ts';
import type { DecodedModel } from '../protocols/sunspec/codec.ts';
import { type ScannedUnit, scanUnits } from '../protocols/sunspec/scan.ts';
import { writePoint } from '../protocols/sunspec/write.ts';
import { nameplateFrom, normalize } from './drivers/normalize.ts';
import { kindFromModels } from './drivers/sunspec.ts';
import type { CanonicalValues } from './drivers/types.ts';
import { quirksFor } from './quirks.ts';

/** Control points whose current value can be written back unchanged, in order of preference. */
const SAFE_WRITES: Array<[number, string]> = [
  [704, 'WMaxLimPct'],
  [123, 'WMaxLimPct'],
  [704, 'WSetRvrtTms'],
  [124, 'InOutWRte_RvrtTms'],
];

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
  testWrite: { point?: string; ok: boolean; detail: string };
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
    const target = SAFE_WRITES.find(([id]) => ids.includes(id));
    const m = target && u.models.find((x) => x.id === target[0]);
    const value = m?.decoded?.values[target?.[1] ?? ''];
    if (!target || !m || typeof value !== 'number')
      dev.testWrite = { ok: false, detail: 'no writable control point found' };
    else {
      const point = `${target[0]}.${target[1]}`;
      opts.onProgress?.(`unit ${u.unit}: test write ${point} = ${value} (unchanged value)`);
      try {
        const { getModel } = await import('../protocols/sunspec/models/index.ts');
        const back = await writePoint(
          io,
          u.unit,
          { id: m.id, address: m.address, length: m.length, def: getModel(m.id) },
          target[1],
          value,
        );
        dev.testWrite =
          back === value
            ? { point, ok: true, detail: `wrote ${value}, read back ${back}` }
            : { point, ok: false, detail: `wrote ${value}, read back ${back}` };
      } catch (err) {
        dev.testWrite = { point, ok: false, detail: (err as Error).message };
      }
    }
  }
  return dev;
}

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
    for (const [k, v] of Object.entries(d.nameplate)) lines.push(`| Nameplate ${k} | ${v} |`);
    lines.push(
      `| Test write | ${d.testWrite.ok ? 'OK' : 'FAILED/SKIPPED'}: ${d.testWrite.point ?? ''} ${d.testWrite.detail} |`,
      '',
    );
    lines.push('Live values (canonical units; power + = delivered, meter + = export):', '');
    for (const [k, v] of Object.entries(d.live)) lines.push(`- ${k}: ${v}`);
    for (const i of d.liveIssues) lines.push(`- ⚠ ${i}`);
    for (const e of d.errors) lines.push(`- error: ${e}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/** What an installer replaces when no secret was given: `gridlayer edge --check` refuses it. */
export const PASSWORD_PLACEHOLDER = 'CHANGE-ME';

/**
 * A ready edge config for the site. The broker knows a gateway by its site id: the username IS the
 * site id (cloud/broker/acl.ts), and the password is the secret the cloud issued for the site
 * (POST /sites or /sites/:site/credentials). Without one the placeholder stays, and `edge --check`
 * says what to fill in.
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
  },
): string {
  const doc = {
    site: opts.site,
    uplink: {
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
  const todo = opts.password
    ? 'review limits'
    : `review limits; set uplink.password (now ${PASSWORD_PLACEHOLDER})`;
  return `# Generated by gridlayer commission on ${r.at}; ${todo}.\n${stringify(doc)}`;
}
