/**
 * VPP fleet benchmark: dispatch to fleets of lightweight simulated gateways
 * (bench/support/vpp-gateways.ts, a separate process speaking the edge MQTT protocol over real
 * sockets to the embedded broker, persistent sessions, telemetry every 5 s) served by one cloud
 * process. Sizes BENCH_VPP_SIZES (default 1000,10000; 50000 as a stretch), each run
 * BENCH_VPP_RUNS times (default 3), interleaved (1k, 10k, 1k, 10k, …) so that the shared machine's
 * load falls on every size alike; os.loadavg() is recorded beside every run. Every size is run and
 * reported, whatever its p99. Results: bench/results/vpp.json and a dated copy (the history).
 *
 * Per run: one cloud (embedded broker + SQLite), N sites in one VPP, steady telemetry, then a
 * dispatch of +1 kW per site. Measured:
 *  - dispatch latency: POST /dispatches sent → each site's gateway receives its first command
 *    (p50/p99/max over sites; a site that gets none in 10 s counts as a miss);
 *  - that every command the gateways received is stored in the registry and audited
 *    (command.send rows of the dispatch's actor);
 *  - the closed loop at that size: loop steps done in the tracking window, duration of the last one;
 *  - time until the measured aggregate at the meters is within 2 % of the target, and the tracking
 *    error (mean |target − measured| / requested change) over the following 10 s;
 *  - CPU (cores) and RSS of the cloud process with the fleet at steady telemetry.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { hashSecret } from '../cloud/auth/secrets.ts';
import { parseCloudConfig } from '../cloud/config.ts';
import { type CloudService, startCloud } from '../cloud/service.ts';
import { report } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const SIZES = (process.env.BENCH_VPP_SIZES ?? '1000,10000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_VPP_RUNS ?? 3);
const RAMP_PER_S = 500;
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
  // A kept-alive connection the server closed meanwhile fails the request (ECONNRESET): a read is
  // retried; a write is not (it may have been done).
  for (let tries = 1; method === 'GET' && tries < 3; tries++) {
    try {
      return await api1<T>(cloud, method, path, body);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
    }
  }
  return api1<T>(cloud, method, path, body);
}

async function api1<T>(cloud: CloudService, method: string, path: string, body?: unknown): Promise<T> {
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
        rampPerSec: RAMP_PER_S,
      }),
    );
    const firstCmd = new Map<string, number>();
    const received = new Set<string>();
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
        if (m.event === 'progress' && !connected) console.error(`vpp ${n}: gateways ${JSON.stringify(m)}`);
        if (m.event === 'cmd') received.add(m.id);
        if (m.event === 'cmd' && !firstCmd.has(m.site)) firstCmd.set(m.site, m.at);
      }
    });
    const connectDeadline = Date.now() + 60_000 + (n / RAMP_PER_S) * 2000;
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
    // For a CPU profile (--cpu-prof): the monotonic instant of the request, in µs like the profile's.
    if (process.env.BENCH_VPP_MARK) console.error(`mark ${process.hrtime.bigint() / 1000n}`);
    const t0 = Date.now();
    const d = await api<{ id: string; targetMeterW: number }>(cloud, 'POST', '/dispatches', {
      group: 'fleet',
      target: { kind: 'change', w: changeW },
      end: Date.now() + 60_000,
      intervalSeconds: 5,
    });
    const apiMs = Date.now() - t0;
    const load1AtDispatch = loadavg()[0];
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
    const prog = await api<{
      progress: { ticks: number; commandsSent: number; commandErrors: number; lastTickMs?: number };
    }>(cloud, 'GET', `/dispatches/${d.id}`);
    await api(cloud, 'POST', `/dispatches/${d.id}/cancel`);
    // Every command a gateway received is stored, and every stored one audited as sent.
    const actor = `dispatch:${d.id}`;
    const stored = new Set(
      (
        await cloud.registry.db.all<{ id: string }>('SELECT id FROM commands WHERE issued_by = ?', [actor])
      ).map((r) => r.id),
    );
    const [audited] = await cloud.registry.db.all<{ n: number }>(
      `SELECT COUNT(*) AS n FROM audit_log WHERE actor = ? AND action = 'command.send'`,
      [actor],
    );
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
      commandsReceived: received.size,
      receivedButNotStored: [...received].filter((id) => !stored.has(id)).length,
      commandsStored: stored.size,
      commandsAudited: Number(audited?.n),
      loopTicks: prog.progress.ticks,
      lastLoopStepMs: prog.progress.lastTickMs ?? null,
      commandsSent: prog.progress.commandsSent,
      commandErrors: prog.progress.commandErrors,
      steadyCloud: steady,
      load1AtDispatch: round(load1AtDispatch, 2),
    };
  } finally {
    child?.kill('SIGTERM');
    await cloud.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// A rejection nobody handled inside the cloud is counted and reported, not a crash of the bench.
const unhandled: string[] = [];
process.on('unhandledRejection', (err) => {
  unhandled.push(String((err as Error)?.stack ?? err).slice(0, 500));
  console.error('unhandled rejection:', err);
});
const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const rows: (Awaited<ReturnType<typeof runSize>> & { run: number; loadavg: number[] })[] = [];
const failures: { run: number; sites: number; error: string; loadavg: number[] }[] = [];
for (let run = 1; run <= RUNS; run++) {
  for (const n of SIZES) {
    const load = loadavg().map((x) => round(x, 2));
    try {
      const r = { run, ...(await runSize(n)), loadavg: load };
      console.log(JSON.stringify(r));
      rows.push(r);
    } catch (err) {
      // A size that fails outright (the fleet never connected) is reported as such.
      console.log(JSON.stringify({ run, sites: n, error: (err as Error).message, loadavg: load }));
      failures.push({ run, sites: n, error: (err as Error).message, loadavg: load });
    }
  }
}
/** A missed site counts as an infinite latency: p99 is then null (no figure), never a good one. */
const inf = (x: number | null) => x ?? Number.POSITIVE_INFINITY;
const fin = (x: number) => (Number.isFinite(x) ? x : null);
const summary = SIZES.map((n) => {
  const rs = rows.filter((r) => r.sites === n);
  const of = (f: (r: (typeof rs)[number]) => number) => {
    const xs = rs.map(f);
    return { min: fin(Math.min(...xs)), median: fin(median(xs)) };
  };
  return {
    sites: n,
    runs: rs.length,
    failedRuns: failures.filter((f) => f.sites === n).length,
    p50Ms: of((r) => r.dispatchLatencyMs.p50),
    p99Ms: of((r) => inf(r.dispatchLatencyMs.p99)),
    apiResponseMs: of((r) => r.apiResponseMs),
    missed: of((r) => r.dispatchLatencyMs.missed),
    lastLoopStepMs: of((r) => inf(r.lastLoopStepMs)),
    allStoredAndAudited: rs.every(
      (r) => r.receivedButNotStored === 0 && r.commandsAudited === r.commandsStored,
    ),
    load1: rs.map((r) => r.loadavg[0]),
  };
});
report('vpp', {
  telemetryPeriodS: PERIOD_MS / 1000,
  cpus: cpus().length,
  summary,
  rows,
  failures,
  unhandledRejections: unhandled,
});
// The dated copy is the history: a regression shows against earlier files.
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
copyFileSync(join(here, 'results/vpp.json'), join(here, `results/vpp-${stamp}.json`));
process.exit(0);
