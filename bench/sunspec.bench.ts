/**
 * SunSpec layer: decode throughput (points and registers per second) and the wall time of a full
 * scan (discovery + every model read and decoded) of one simulated site's three units.
 * Targets: decoding well over 1 M points/s; a full scan under 1 s.
 */
import { ModbusClient } from '../protocols/modbus/client.ts';
import { decodeModel } from '../protocols/sunspec/codec.ts';
import { scanUnits } from '../protocols/sunspec/scan.ts';
import { SimSite } from '../sim-devices/site.ts';
import { report, timeMs } from './report.ts';

const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 1 });
await site.start();

// Decode: the blocks a gateway polls most (inverter 103 + 701, meter 203, battery 802).
const blocks = [
  [site.pv, 103],
  [site.pv, 701],
  [site.meter, 203],
  [site.battery, 802],
] as const;
const inputs = blocks.map(([dev, id]) => {
  const m = dev.model(id);
  return { def: m.def, regs: dev.regs.slice(m.address, m.address + m.length + 2) };
});
let points = 0;
let registers = 0;
for (const b of inputs) decodeModel(b.def, b.regs); // warm-up
const iterations = 20000;
const decodeMs = await timeMs(() => {
  for (let i = 0; i < iterations; i++) {
    for (const b of inputs) {
      const d = decodeModel(b.def, b.regs);
      points += Object.keys(d.values).length;
      registers += b.regs.length;
    }
  }
});

// Full scan of units 1-3, fresh connection each time, as an installer's scan would do.
const scans: number[] = [];
for (let i = 0; i < 10; i++) {
  scans.push(
    await timeMs(async () => {
      const io = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port: site.port } });
      await scanUnits(io, [1, 2, 3]);
      await io.close();
    }),
  );
}
await site.stop();
scans.sort((a, b) => a - b);

report('sunspec', {
  decode_points_per_s: Math.round((points / decodeMs) * 1000),
  decode_registers_per_s: Math.round((registers / decodeMs) * 1000),
  full_scan_3_units_ms_median: Number(scans[Math.floor(scans.length / 2)].toFixed(1)),
  full_scan_3_units_ms_max: Number(scans[scans.length - 1].toFixed(1)),
  targets: { decode_points_per_s: '> 1e6', full_scan_ms: '< 1000' },
});
