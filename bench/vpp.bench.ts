/**
 * VPP fleet benchmark (bounded by BENCH_VPP_BUDGET_MS, default 4 min): the largest fleet of
 * lightweight simulated gateways (bench/support/vpp-gateways.ts, a separate process speaking the edge
 * MQTT protocol, telemetry every 5 s) that one cloud process serves with dispatch latency p99 < 1 s.
 *
 * Per fleet size: one cloud (embedded broker + SQLite), N sites in one VPP, steady telemetry, then a
 * dispatch of +1 kW per site. Measured:
 *  - dispatch latency: POST /dispatches sent → each site's gateway receives its first command
 *    (p50/p99/max over sites; a site that gets none in 10 s counts as a miss);
 *  - time until the measured aggregate at the meters is within 2 % of the target, and the tracking
 *    error (mean |target − measured| / requested change) over the following 10 s;
 *  - CPU (cores) and RSS of the cloud process with the fleet at steady telemetry.
 * Sizes grow until p99 reaches 1 s or the budget is spent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { hashSecret } from '../cloud/auth/secrets.ts';
import { parseCloudConfig } from '../cloud/config.ts';
import { type CloudService, startCloud } from '../cloud/service.ts';
import { report } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const SIZES = (process.env.BENCH_VPP_SIZES ?? '100,300,600,1000,1500,2500').split(',').map(Number);
const BUDGET_MS = Number(process.env.BENCH_VPP_BUDGET_MS ?? 240_000);
const PERIOD_MS = 5000;
const PASSWORD = 'bench-password-0123456789';
const TOKEN = 'glt_benchadmin_0123456789abcdefghijklmnopqrstuv';
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

function selfMeter() {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  return () => {
    const c = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - t0) / 1e3;
    return {
      cpuCores: round((c.user + c.system) / wall, 3),
      rssMB: round(process.memoryUsage().rss / 2 ** 20, 1),
    };
  };
}

async function api<T>(cloud: CloudService, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${cloud.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const j = (await r.json()) as T;
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j).slice(0, 500)}`);
  return j;
}

async function runSize(n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-vppbench-'));
  const cloud = await startCloud(
    parseCloudConfig(
      {
        logLevel: 'silent',
        broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: 0 } },
        api: { host: '127.0.0.1', port: 0 },
        auth: { bootstrapToken: TOKEN },
        storage: {
          timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
          registry: { backend: 'sqlite', path: 'registry.db' },
        },
        vpp: { loopMs: 2000, commandTtlS: 10, staleMs: 15_000, baselineMinutes: 0.1, settleMs: 10_000 },
      },
      dir,
    ),
    { logger: pino({ level: 'silent' }) },
  );
  let child: ChildProcess | undefined;
  try {
    const sites = Array.from({ length: n }, (_, i) => `g${i}`);
    const hash = hashSecret(PASSWORD);
    const now = Date.now();
    await cloud.registry.db.tx(async (db) => {
      for (const id of sites) {
        await db.run('INSERT INTO sites (id, created_at, updated_at) VALUES (?, ?, ?)', [id, now, now]);
        await db.run('INSERT INTO site_credentials (site_id, secret_hash, created_at) VALUES (?, ?, ?)', [
          id,
          hash,
          now,
        ]);
      }
    });
    await cloud.registry.createGroup({ id: 'fleet', name: 'bench fleet', kind: 'vpp' });
    await cloud.registry.setGroupSites('fleet', sites);

    const file = join(dir, 'gw.json');
    writeFileSync(
      file,
      JSON.stringify({
        host: '127.0.0.1',
        port: cloud.broker.tcp,
        password: PASSWORD,
        sites,
        periodMs: PERIOD_MS,
        rampPerSec: 500,
      }),
    );
    const firstCmd = new Map<string, number>();
    let connected = false;
    child = spawn(process.execPath, ['--import', 'tsx', join(here, 'support/vpp-gateways.ts')], {
      env: { ...process.env, GRIDLAYER_VPPGW_FILE: file },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    child.stdout?.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (m.event === 'connected') connected = true;
        if (m.event === 'cmd' && !firstCmd.has(m.site)) firstCmd.set(m.site, m.at);
      }
    });
    const connectDeadline = Date.now() + 60_000;
    while (!connected) {
      if (Date.now() > connectDeadline) throw new Error(`only some of ${n} gateways connected`);
      await sleep(100);
    }
    // Every gateway has registered its devices and sent telemetry (random phase < 5 s).
    await sleep(PERIOD_MS + 1500);
    const devs = await cloud.registry.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM devices');
    const meter = selfMeter();
    await sleep(PERIOD_MS);
    const steady = meter();
    const before = await api<{ meterW: number; staleDevices: number }>(cloud, 'GET', '/vpps/fleet/aggregate');

    const changeW = 1000 * n;
    const t0 = Date.now();
    const d = await api<{ id: string; targetMeterW: number }>(cloud, 'POST', '/dispatches', {
      group: 'fleet',
      target: { kind: 'change', w: changeW },
      end: Date.now() + 60_000,
      intervalSeconds: 5,
    });
    const apiMs = Date.now() - t0;
    const deadline = Date.now() + 10_000;
    while (firstCmd.size < n && Date.now() < deadline) await sleep(50);
    const lat = sites.map((s) =>
      firstCmd.has(s) ? (firstCmd.get(s) as number) - t0 : Number.POSITIVE_INFINITY,
    );
    // Aggregate at the meters reaches the target.
    let atTargetMs: number | null = null;
    const tgtDeadline = Date.now() + 20_000;
    while (Date.now() < tgtDeadline) {
      const a = await api<{ meterW: number }>(cloud, 'GET', '/vpps/fleet/aggregate');
      if (Math.abs(a.meterW - d.targetMeterW) <= 0.02 * changeW) {
        atTargetMs = Date.now() - t0;
        break;
      }
      await sleep(100);
    }
    const errs: number[] = [];
    for (let k = 0; k < 20; k++) {
      const a = await api<{ meterW: number }>(cloud, 'GET', '/vpps/fleet/aggregate');
      errs.push(Math.abs(a.meterW - d.targetMeterW) / changeW);
      await sleep(500);
    }
    const prog = await api<{ progress: { ticks: number; commandsSent: number; commandErrors: number } }>(
      cloud,
      'GET',
      `/dispatches/${d.id}`,
    );
    await api(cloud, 'POST', `/dispatches/${d.id}/cancel`);
    const fin = lat.filter(Number.isFinite);
    return {
      sites: n,
      devicesRegistered: devs[0]?.n,
      staleDevicesBefore: before.staleDevices,
      apiResponseMs: apiMs,
      dispatchLatencyMs: {
        p50: round(pct(lat, 50)),
        p99: Number.isFinite(pct(lat, 99)) ? round(pct(lat, 99)) : null,
        max: fin.length ? round(Math.max(...fin)) : null,
        missed: n - fin.length,
      },
      aggregateAtTargetMs: atTargetMs,
      trackingErrorPctOfChange: round((errs.reduce((a, b) => a + b, 0) / errs.length) * 100, 2),
      loopTicks: prog.progress.ticks,
      commandsSent: prog.progress.commandsSent,
      commandErrors: prog.progress.commandErrors,
      steadyCloud: steady,
    };
  } finally {
    child?.kill('SIGTERM');
    await cloud.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = Date.now();
const rows: Awaited<ReturnType<typeof runSize>>[] = [];
for (const n of SIZES) {
  if (Date.now() - started > BUDGET_MS) {
    console.log(`vpp: time budget spent before ${n} sites`);
    break;
  }
  const r = await runSize(n);
  console.log(JSON.stringify(r));
  rows.push(r);
  if (r.dispatchLatencyMs.p99 === null || r.dispatchLatencyMs.p99 >= 1000) break;
}
const ok = rows.filter((r) => r.dispatchLatencyMs.p99 !== null && r.dispatchLatencyMs.p99 < 1000);
report('vpp', {
  telemetryPeriodS: PERIOD_MS / 1000,
  largestFleetWithP99Under1s: ok.length ? Math.max(...ok.map((r) => r.sites)) : 0,
  limitReached: rows.length > ok.length,
  rows,
});
process.exit(0);
