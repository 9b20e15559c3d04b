/**
 * Edge agent footprint: CPU time and peak RSS of a real agent process polling 20 simulated SunSpec
 * devices every second for a fixed period, publishing to an in-process aedes broker; plus end-to-end
 * latency from a device value change to the MQTT publish that carries it.
 * Targets (issue 3): < 80 MB RSS, < 5 % of one core.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SimSite } from '../sim-devices/site.ts';
import { TestBroker } from '../test-support/edge/harness.ts';
import { report } from './report.ts';

const DURATION_S = Number(process.env.EDGE_BENCH_S ?? 40);
const DEVICES = 20;
const CLK_TCK = 100;

function procStats(pid: number): { cpuS: number; rssKb: number; hwmKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS, rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

const sites: SimSite[] = [];
const dir = mkdtempSync(join(tmpdir(), 'gridlayer-edge-bench-'));
const broker = new TestBroker();
await broker.start();
const devices: unknown[] = [];
for (let i = 0; devices.length < DEVICES; i++) {
  const s = new SimSite({ startMs: Date.UTC(2026, 5, 21, 10), seed: i + 1 });
  await s.start();
  sites.push(s);
  for (const unit of [1, 2, 3]) {
    if (devices.length < DEVICES)
      devices.push({
        id: `s${i}-u${unit}`,
        protocol: 'modbus-tcp',
        host: '127.0.0.1',
        port: s.port,
        unit,
        pollMs: 1000,
      });
  }
}
const cfgPath = join(dir, 'edge.yaml');
writeFileSync(
  cfgPath,
  stringify({
    site: 'bench-site',
    uplink: { url: broker.url, clientId: 'edge-bench' },
    buffer: { path: join(dir, 'buffer.db') },
    http: { port: 0 },
    log: { level: 'warn' },
    devices,
  }),
);
/** The node flags and NODE_OPTIONS of the systemd unit gateways run, so the bench measures that. */
function deployedCommand(): { flags: string[]; nodeOptions: string } {
  const unit = readFileSync('deploy/edge/gridlayer-edge.service', 'utf8');
  const exec = /^ExecStart=\/usr\/bin\/node (.*?)\s*\/opt\/gridlayer\/dist\/main\.js edge/m.exec(unit);
  const env = /^Environment="NODE_OPTIONS=([^"]*)"/m.exec(unit);
  if (!exec || !env) throw new Error('deploy/edge/gridlayer-edge.service: ExecStart/NODE_OPTIONS not found');
  return { flags: exec[1].split(/\s+/).filter(Boolean), nodeOptions: env[1] };
}

/** Runs the agent from `entry` for DURATION_S and returns its footprint and latency figures. */
async function measure(entry: string, flags: string[] = [], nodeOptions?: string) {
  const child = spawn(process.execPath, [...flags, entry, 'edge', '--config', cfgPath], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: nodeOptions === undefined ? process.env : { ...process.env, NODE_OPTIONS: nodeOptions },
  });
  const pid = child.pid as number;
  const seen0 = broker.of('telemetry').length;
  const sampleDevices = () =>
    new Set(
      broker
        .of('telemetry')
        .slice(seen0)
        .flatMap((m) => m.json.samples.map((s: { device: string }) => s.device)),
    );
  // Warm-up: until every device has published once (discovery and first reads are one-off costs).
  const warmDeadline = Date.now() + 60_000;
  while (sampleDevices().size < DEVICES && Date.now() < warmDeadline)
    await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  const start = procStats(pid);
  const t0 = performance.now();
  let peakRss = start.rssKb;
  const batches0 = broker.of('telemetry').length;

  // Latency probes during the run: set battery state of health (a value physics never touches) and
  // time until a telemetry sample carries it.
  const latencies: number[] = [];
  const probeSite = sites[0];
  const endAt = Date.now() + DURATION_S * 1000;
  let probe = 0;
  while (Date.now() < endAt) {
    const soh = 90 - (probe++ % 10);
    const n = broker.messages.length;
    const tChange = performance.now();
    probeSite.battery.model(802).set('SoH', soh);
    let seen: number | undefined;
    while (seen === undefined && Date.now() < endAt + 5000) {
      for (const m of broker.messages.slice(n)) {
        if (!m.topic.endsWith('/telemetry')) continue;
        if (
          m.json.samples.some(
            (s: { device: string; values: { soh_pct?: number } }) =>
              s.device === 's0-u2' && s.values.soh_pct === soh,
          )
        )
          seen = performance.now();
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (seen !== undefined) latencies.push(seen - tChange);
    peakRss = Math.max(peakRss, procStats(pid).rssKb);
    await new Promise((r) => setTimeout(r, 500));
  }
  const end = procStats(pid);
  const wallS = (performance.now() - t0) / 1000;
  const samples = broker
    .of('telemetry')
    .slice(batches0)
    .reduce((a, m) => a + m.json.samples.length, 0);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN);
  return {
    devices: DEVICES,
    pollIntervalMs: 1000,
    durationS: Math.round(wallS),
    cpuPctOfOneCore: Math.round(((end.cpuS - start.cpuS) / wallS) * 1000) / 10,
    rssMbEnd: Math.round(end.rssKb / 102.4) / 10,
    rssMbPeak: Math.round(Math.max(peakRss, end.hwmKb) / 102.4) / 10,
    samplesPerS: Math.round(samples / wallS),
    latencyProbes: latencies.length,
    latencyMsP50: q(0.5),
    latencyMsP95: q(0.95),
    latencyMsMax: Math.round(latencies.at(-1) ?? Number.NaN),
  };
}

// Deployed gateways run the prebuilt bundle (npm run build → dist/); development runs through tsx.
execFileSync(process.execPath, ['--import', 'tsx', 'deploy/build.ts'], { stdio: 'ignore' });
const unit = deployedCommand();
const bundle = await measure('dist/main.js', unit.flags, unit.nodeOptions);
const tsx = await measure('bin/gridlayer.js');
for (const s of sites) await s.stop();
await broker.stop();
rmSync(dir, { recursive: true, force: true });
report('edge', {
  runtime: `node ${unit.flags.join(' ')} dist/main.js edge (NODE_OPTIONS=${unit.nodeOptions}), as deploy/edge/gridlayer-edge.service`,
  ...bundle,
  tsx: { runtime: 'node bin/gridlayer.js edge (tsx, development)', ...tsx },
});
