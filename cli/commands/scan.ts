import type { Command } from 'commander';
import { ModbusClient } from '../../protocols/modbus/client.ts';
import type { DecodedGroup } from '../../protocols/sunspec/codec.ts';
import { getModel } from '../../protocols/sunspec/models/index.ts';
import { type ScannedUnit, scanUnits } from '../../protocols/sunspec/scan.ts';
import type { GroupDef } from '../../protocols/sunspec/types.ts';
import { intOption, unitRange } from '../options.ts';

export function register(program: Command): void {
  program
    .command('scan')
    .description(
      'discover SunSpec devices on a Modbus TCP host and print every model with its decoded points',
    )
    .requiredOption('--host <host>', 'Modbus TCP host')
    .option('--port <port>', 'Modbus TCP port', intOption('--port', 1, 65535), 502)
    .option('--unit <n>', 'one unit id', intOption('--unit', 1, 247))
    .option('--units <a-b>', 'a range of unit ids, e.g. 1-10', unitRange)
    .option('--timeout <ms>', 'response timeout per transaction', intOption('--timeout', 50, 60000), 1000)
    .option('--json', 'print JSON instead of text')
    .action(
      async (opts: {
        host: string;
        port: number;
        unit?: number;
        units?: number[];
        timeout: number;
        json?: boolean;
      }) => {
        if (opts.unit !== undefined && opts.units) throw new Error('give --unit or --units, not both');
        const units = opts.units ?? [opts.unit ?? 1];
        const io = new ModbusClient({
          transport: { kind: 'tcp', host: opts.host, port: opts.port },
          timeoutMs: opts.timeout,
          readOnly: true,
        });
        try {
          await io.connect();
          const results = await scanUnits(io, units, (p) => {
            if (units.length > 1 && p.done < p.total)
              process.stderr.write(`scanning unit ${p.unit} (${p.done + 1}/${p.total})\n`);
          });
          if (opts.json)
            process.stdout.write(`${JSON.stringify({ endpoint: io.endpoint, units: results }, null, 2)}\n`);
          else process.stdout.write(formatScan(io.endpoint, results));
          if (!results.some((u) => u.models.length > 0)) process.exitCode = 2;
        } finally {
          await io.close();
        }
      },
    );
}

export function formatScan(endpoint: string, units: ScannedUnit[]): string {
  const lines: string[] = [];
  for (const u of units) {
    if (u.base === undefined) {
      lines.push(`${endpoint} unit ${u.unit}: no SunSpec device (${u.errors.join('; ')})`, '');
      continue;
    }
    const id = u.identity ?? {};
    lines.push(
      `${endpoint} unit ${u.unit}: ${id.manufacturer ?? '?'} ${id.model ?? '?'} serial ${id.serial ?? '?'} firmware ${id.version ?? '?'} (SunSpec base ${u.base}, ${u.models.length} models${u.complete ? '' : ', chain incomplete'})`,
    );
    for (const m of u.models) {
      lines.push(`  model ${m.id}${m.label ? ` ${m.label}` : ' (unknown)'} @${m.address} length ${m.length}`);
      if (m.error) lines.push(`    error: ${m.error}`);
      const def = getModel(m.id);
      if (m.decoded && def) formatGroup(def.group, m.decoded, '    ', lines);
      for (const issue of m.decoded?.issues ?? [])
        lines.push(`    ! ${issue.path} (+${issue.offset}): ${issue.message}`);
    }
    for (const e of u.errors) lines.push(`  error: ${e}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

function formatGroup(g: GroupDef, d: DecodedGroup, indent: string, lines: string[]): void {
  for (const p of g.points) {
    if (p.type === 'pad' || p.name === 'ID' || p.name === 'L' || p.type === 'sunssf') continue;
    const v = d.values[p.name];
    if (v === undefined) continue;
    let text = typeof v === 'number' ? String(Number(v.toPrecision(10))) : JSON.stringify(v);
    if (p.symbols && typeof v === 'number') {
      if (p.type.startsWith('enum')) {
        const name = Object.entries(p.symbols).find(([, n]) => n === v)?.[0];
        if (name) text += ` (${name})`;
      } else {
        const bits = Object.entries(p.symbols)
          .filter(([, bit]) => v & (2 ** bit))
          .map(([n]) => n);
        if (bits.length) text += ` (${bits.join(', ')})`;
      }
    }
    lines.push(`${indent}${p.name} = ${text}${p.units && typeof v === 'number' ? ` ${p.units}` : ''}`);
  }
  for (const sub of g.groups ?? []) {
    (d.groups[sub.name] ?? []).forEach((inst, i) => {
      lines.push(`${indent}${sub.name}[${i}]`);
      formatGroup(sub, inst, `${indent}  `, lines);
    });
  }
}
