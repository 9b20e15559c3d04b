/**
 * Edge agent footprint and latency: a real agent process (the prebuilt bundle, with the systemd
 * unit's node flags) polls 20 simulated SunSpec devices every second and publishes to an aedes broker
 * in this process. Figures per run: CPU (% of one core), RSS, and the latency of a device register
 * change to the arrival of the MQTT publish that carries it.
 *
 * Latency probes: one probe loop per simulated site sets the battery's state of health (a value the
 * physics never touches) and waits for the publish carrying it; the next change comes after a seeded
 * random wait of 0–1 poll period, so changes land at random phases of the agent's poll and batch timers
 * (a fixed wait locks onto them and measures one phase only). Two latencies per probe:
 * - change → arrival: what the cloud sees; with a 1 s poll it includes the wait for the next poll
 *   (uniform over 0–1 s), a floor no edge design removes short of polling faster;
 * - poll → arrival: from the sample's timestamp (taken when the poll's reads finished) to arrival: what
 *   the agent itself adds (buffer commit, batching, MQTT).
 *
 * Variants, interleaved round by round (EDGE_BENCH_ROUNDS, default 3), each run EDGE_BENCH_S seconds:
 * - batch: telemetry.report 'batch' (every sample, one MQTT batch every uplink.batchMs): as before;
 * - exception: report by exception (the default);
 * - exception-nolite: the same without node's --lite-mode flag (what --lite-mode costs or saves).
 * Every listener binds port 0. Targets: < 80 MB RSS, < 5 % of one core (issue 3); poll → arrival
 * p99 < 50 ms (issue 17).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { seededRandom } from '../sim-devices/physics/random.ts';
import { SimSite } from '../sim-devices/site.ts';
import { TestBroker } from '../test-support/edge/harness.ts';
import { report } from './report.ts';

const DURATION_S = Number(process.env.EDGE_BENCH_S ?? 20);
const ROUNDS = Number(process.env.EDGE_BENCH_ROUNDS ?? 3);
const SEED = Number(process.env.EDGE_BENCH_SEED ?? 17);
const DEVICES = 20;
const POLL_MS = 1000;
const CLK_TCK = 100;

function procStats(pid: number): { cpuS: number; rssKb: number; hwmKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS, rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

/** The node flags and NODE_OPTIONS of the systemd unit gateways run, so the bench measures that. */
function deployedCommand(): { flags: string[]; nodeOptions: string } {
  const unit = readFileSync('deploy/edge/gridlayer-edge.service', 'utf8');
  const exec = /^ExecStart=\/usr\/bin\/node (.*?)\s*\/opt\/gridlayer\/dist\/main\.js edge/m.exec(unit);
  const env = /^Environment="NODE_OPTIONS=([^"]*)"/m.exec(unit);
  if (!exec || !env) throw new Error('deploy/edge/gridlayer-edge.service: ExecStart/NODE_OPTIONS not found');
  return { flags: exec[1].split(/\s+/).filter(Boolean), nodeOptions: env[1] };
}

const quantile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : Number.NaN;
const round1 = (x: number) => Math.round(x * 10) / 10;
const median = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const loads = () => loadavg().map(round1);

const sites: SimSite[] = [];
const dir = mkdtempSync(join(tmpdir(), 'gridlayer-edge-bench-'));
const broker = new TestBroker();
await broker.start();
const devices: unknown[] = [];
for (let i = 0; devices.length < DEVICES; i++) {
  const s = new SimSite({ startMs: Date.UTC(2026, 5, 21, 10), seed: i + 1 });
  await s.start();
  sites.push(s);
  for (const unit of [1, 2, 3])
    if (devices.length < DEVICES)
      devices.push({
        id: `s${i}-u${unit}`,
        protocol: 'modbus-tcp',
        host: '127.0.0.1',
        port: s.port,
        unit,
        pollMs: POLL_MS,
      });
}
/** Sites whose battery (unit 2) the agent polls: one probe loop each. */
const probeSites = sites
  .map((_, i) => i)
  .filter((i) => devices.some((d) => (d as { id: string }).id === `s${i}-u2`));

/** Arrival hooks: the broker's publish event, before the bench's own parsing delays anything. */
type Waiter = { soh: number; resolve: (at: { arrival: number; sampleTs: number; now: number }) => void };
const waiting = new Map<string, Waiter>();
let telemetryMsgs = 0;
let telemetrySamples = 0;
broker.broker?.on('publish', (packet, client) => {
  if (!client || !packet.topic.endsWith('/telemetry')) return;
  const arrival = performance.now();
  const now = Date.now();
  telemetryMsgs++;
  const json = JSON.parse(packet.payload.toString()) as {
    samples: Array<{ ts: number; device: string; values: { soh_pct?: number } }>;
  };
  telemetrySamples += json.samples.length;
  for (const s of json.samples) {
    const w = waiting.get(s.device);
    if (w && s.values.soh_pct === w.soh) {
      waiting.delete(s.device);
      w.resolve({ arrival, sampleTs: s.ts, now });
    }
  }
});

/**
 * `flags`: the node flags from the unit's ExecStart, changed or not. `entry`: another build of the
 * agent (the baseline); its config has no `telemetry` key (older configs refuse unknown keys).
 */
type Variant = {
  name: string;
  report?: 'batch' | 'exception';
  flags: (deployed: string[]) => string[];
  entry?: string;
};
const same = (f: string[]) => f;
const noLite = (f: string[]) => f.filter((x) => x !== '--lite-mode');
const ALL_VARIANTS: Variant[] = [
  { name: 'batch', report: 'batch', flags: same },
  { name: 'exception', report: 'exception', flags: same },
  { name: 'exception-nolite', report: 'exception', flags: noLite },
  // Opt-in (EDGE_BENCH_VARIANTS): --lite-mode implies --jitless (everything interpreted); these keep
  // the baseline compiler (Sparkplug) and drop only the optimizing one, or keep both with size tuning.
  { name: 'exception-noopt', report: 'exception', flags: (f) => [...noLite(f), '--no-opt'] },
  { name: 'exception-forsize', report: 'exception', flags: (f) => [...noLite(f), '--optimize-for-size'] },
];
/** EDGE_BENCH_VARIANTS=batch,exception: a subset (default: the first three). */
const VARIANTS = process.env.EDGE_BENCH_VARIANTS
  ? ALL_VARIANTS.filter((v) => process.env.EDGE_BENCH_VARIANTS?.split(',').includes(v.name))
  : ALL_VARIANTS.slice(0, 3);

/**
 * EDGE_BENCH_BASELINE_REV=<git revision>: the agent as built from that revision runs first in every
 * round (variant `baseline`), so "before" is measured beside "after" on the same machine and load.
 */
function buildBaseline(rev: string): string {
  const src = join(dir, 'baseline');
  execFileSync('mkdir', ['-p', src]);
  execFileSync('sh', ['-c', `git archive ${JSON.stringify(rev)} | tar -x -C ${JSON.stringify(src)}`]);
  execFileSync('ln', ['-s', join(process.cwd(), 'node_modules'), join(src, 'node_modules')]);
  execFileSync(process.execPath, ['--import', 'tsx', join(src, 'deploy/build.ts')], { stdio: 'ignore' });
  return join(src, 'dist', 'main.js');
}
const baselineRev = process.env.EDGE_BENCH_BASELINE_REV;
if (baselineRev) VARIANTS.unshift({ name: 'baseline', flags: same, entry: buildBaseline(baselineRev) });

const unit = deployedCommand();
let runNo = 0;
/**
 * Probe count per site across runs: the sites outlive the agent runs, so a counter restarting at 0
 * could write the value a register already holds, which is (rightly) no exception and would wait for
 * the heartbeat.
 */
const probeCount = new Map<number, number>();

/** One agent run: returns its footprint and latency figures. */
async function measure(v: Variant) {
  runNo++;
  const runDir = join(dir, `run${runNo}`);
  const cfgPath = join(dir, `edge-${runNo}.yaml`);
  writeFileSync(
    cfgPath,
    stringify({
      site: 'bench-site',
      uplink: { url: broker.url, clientId: `edge-bench-${runNo}` },
      buffer: { path: join(runDir, 'buffer.db') },
      ...(v.report && { telemetry: { report: v.report } }),
      http: { port: 0 },
      log: { level: 'warn' },
      devices,
    }),
  );
  const flags = [...v.flags(unit.flags)];
  // EDGE_BENCH_PROFILE=<dir>: a V8 CPU profile of each agent run (open in Chrome DevTools).
  if (process.env.EDGE_BENCH_PROFILE)
    flags.push('--cpu-prof', `--cpu-prof-dir=${process.env.EDGE_BENCH_PROFILE}`);
  const child = spawn(process.execPath, [...flags, v.entry ?? 'dist/main.js', 'edge', '--config', cfgPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: unit.nodeOptions },
  });
  const pid = child.pid as number;
  // The agent logs at warn: count its failed polls (a device timing out under load delays probes).
  let pollFailures = 0;
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    pollFailures += d.split('"poll failed"').length - 1;
  });
  const seen0 = broker.of('telemetry').length;
  const published = () =>
    new Set(
      broker
        .of('telemetry')
        .slice(seen0)
        .flatMap((m) => m.json.samples.map((s: { device: string }) => s.device)),
    );
  // Warm-up: until every device has published once (discovery and first reads are one-off costs).
  const warmDeadline = Date.now() + 60_000;
  while (published().size < DEVICES && Date.now() < warmDeadline)
    await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  const load0 = loads();
  const start = procStats(pid);
  const t0 = performance.now();
  const msgs0 = telemetryMsgs;
  const samples0 = telemetrySamples;
  let peakRss = start.rssKb;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, procStats(pid).rssKb);
  }, 500);

  const changeToArrival: number[] = [];
  const pollToArrival: number[] = [];
  let missed = 0;
  const endAt = Date.now() + DURATION_S * 1000;
  // Each probe loop starts at its own random phase and waits a random 0–1 poll period between probes.
  const loop = async (site: number) => {
    const rand = seededRandom(SEED * 10_000 + runNo * 100 + site);
    await new Promise((r) => setTimeout(r, rand() * POLL_MS));
    while (Date.now() < endAt) {
      const device = `s${site}-u2`;
      const k = probeCount.get(site) ?? 0;
      probeCount.set(site, k + 1);
      const soh = 80 + (k % 20);
      const got = new Promise<{ arrival: number; sampleTs: number; now: number } | undefined>((resolve) => {
        waiting.set(device, { soh, resolve });
        setTimeout(() => resolve(undefined), 10_000);
      });
      const tChange = performance.now();
      sites[site].battery.model(802).set('SoH', soh);
      const at = await got;
      waiting.delete(device);
      if (at) {
        changeToArrival.push(at.arrival - tChange);
        pollToArrival.push(at.now - at.sampleTs);
      } else missed++;
      await new Promise((r) => setTimeout(r, rand() * POLL_MS));
    }
  };
  await Promise.all(probeSites.map(loop));
  clearInterval(rssTimer);
  const end = procStats(pid);
  const wallS = (performance.now() - t0) / 1000;
  const load1 = loads();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  changeToArrival.sort((a, b) => a - b);
  pollToArrival.sort((a, b) => a - b);
  const q = (xs: number[], p: number) => Math.round(quantile(xs, p));
  return {
    variant: v.name,
    flags: flags.join(' '),
    ...(v.entry && { revision: baselineRev }),
    durationS: Math.round(wallS),
    loadavg: { start: load0, end: load1 },
    cpuPctOfOneCore: round1(((end.cpuS - start.cpuS) / wallS) * 100),
    rssMbEnd: round1(end.rssKb / 1024),
    rssMbPeak: round1(Math.max(peakRss, end.hwmKb) / 1024),
    messagesPerS: round1((telemetryMsgs - msgs0) / wallS),
    samplesPerS: round1((telemetrySamples - samples0) / wallS),
    probes: changeToArrival.length,
    missed,
    pollFailures,
    changeToArrivalMs: {
      p50: q(changeToArrival, 0.5),
      p95: q(changeToArrival, 0.95),
      p99: q(changeToArrival, 0.99),
    },
    pollToArrivalMs: { p50: q(pollToArrival, 0.5), p95: q(pollToArrival, 0.95), p99: q(pollToArrival, 0.99) },
    raw: { changeToArrival, pollToArrival },
  };
}

// Deployed gateways run the prebuilt bundle (npm run build → dist/).
execFileSync(process.execPath, ['--import', 'tsx', 'deploy/build.ts'], { stdio: 'ignore' });
const runs: Awaited<ReturnType<typeof measure>>[] = [];
for (let r = 0; r < ROUNDS; r++)
  for (const v of VARIANTS) {
    const m = await measure(v);
    const { raw: _raw, ...shown } = m;
    console.log(`edge: round ${r + 1} ${JSON.stringify(shown)}`);
    runs.push(m);
  }
for (const s of sites) await s.stop();
await broker.stop();
rmSync(dir, { recursive: true, force: true });

/** Min and median over the runs of one variant, and percentiles over all its probes pooled. */
function summary(name: string) {
  const rs = runs.filter((r) => r.variant === name);
  const stat = (f: (r: (typeof rs)[number]) => number) => {
    const xs = rs.map(f);
    return { min: Math.min(...xs), median: median(xs) };
  };
  const pooled = (k: 'changeToArrival' | 'pollToArrival') => {
    const xs = rs.flatMap((r) => r.raw[k]).sort((a, b) => a - b);
    return {
      p50: Math.round(quantile(xs, 0.5)),
      p95: Math.round(quantile(xs, 0.95)),
      p99: Math.round(quantile(xs, 0.99)),
    };
  };
  return {
    runs: rs.length,
    probes: rs.reduce((a, r) => a + r.probes, 0),
    missed: rs.reduce((a, r) => a + r.missed, 0),
    cpuPctOfOneCore: stat((r) => r.cpuPctOfOneCore),
    rssMbPeak: stat((r) => r.rssMbPeak),
    messagesPerS: stat((r) => r.messagesPerS),
    samplesPerS: stat((r) => r.samplesPerS),
    changeToArrivalMs: {
      p50: stat((r) => r.changeToArrivalMs.p50),
      p95: stat((r) => r.changeToArrivalMs.p95),
      p99: stat((r) => r.changeToArrivalMs.p99),
      pooled: pooled('changeToArrival'),
    },
    pollToArrivalMs: {
      p50: stat((r) => r.pollToArrivalMs.p50),
      p95: stat((r) => r.pollToArrivalMs.p95),
      p99: stat((r) => r.pollToArrivalMs.p99),
      pooled: pooled('pollToArrival'),
    },
  };
}

report('edge', {
  runtime: `node ${unit.flags.join(' ')} dist/main.js edge (NODE_OPTIONS=${unit.nodeOptions}), as deploy/edge/gridlayer-edge.service; -nolite: without --lite-mode`,
  devices: DEVICES,
  pollIntervalMs: POLL_MS,
  seed: SEED,
  cores: (await import('node:os')).cpus().length,
  ...Object.fromEntries(VARIANTS.map((v) => [v.name, summary(v.name)])),
  runs: runs.map(({ raw: _raw, ...r }) => r),
});
