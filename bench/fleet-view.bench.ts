/**
 * Fleet view benchmark (the operator app's site list): one cloud (SQLite registry) with
 * BENCH_FLEET_SITES sites (default 10,000) of mixed status — online, offline, stale, fallback,
 * some with a refused command — each with three devices and live power from in-memory telemetry.
 * Measured over real HTTP (fetch, keep-alive), BENCH_FLEET_REQUESTS calls per case (default 300):
 * p50/p99/max latency of GET /fleet/sites?limit=50 (first page, deep page, search + status sort,
 * alarm filter), GET /fleet/summary, and the first page as a participant scoped to a 100-site group.
 * Results: bench/results/fleet-view.json and the history.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { formatApiToken, hashSecret } from '../cloud/auth/secrets.ts';
import { parseCloudConfig } from '../cloud/config.ts';
import { startCloud } from '../cloud/service.ts';
import { report } from './report.ts';

const N = Number(process.env.BENCH_FLEET_SITES ?? 10_000);
const REQUESTS = Number(process.env.BENCH_FLEET_REQUESTS ?? 300);
const TOKEN = 'glt_benchadmin_0123456789abcdefghijklmnopqrstuv';
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

const dir = mkdtempSync(join(tmpdir(), 'gridlayer-bench-fleet-'));
const config = parseCloudConfig(
  {
    logLevel: 'silent',
    broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: 0 } },
    api: { host: '127.0.0.1', port: 0 },
    auth: { bootstrapToken: TOKEN },
    storage: {
      timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
      registry: { backend: 'sqlite', path: 'registry.db' },
    },
    market: { meteredSettlement: { auto: false } },
  },
  dir,
);
const cloud = await startCloud(config, { logger: pino({ level: 'silent' }) });
try {
  const { registry } = cloud;
  const db = registry.db;
  const now = Date.now();
  const id = (i: number) => `site-${String(i).padStart(5, '0')}`;
  const NAMES = ['Farm', 'School', 'Depot', 'Hall', 'Home'];
  const t0 = Date.now();
  // Raw multi-row inserts: the fleet exists before the cloud is asked anything (seeding is not measured).
  await db.tx(async (t) => {
    for (let i = 0; i < N; i += 100) {
      const rows: (string | number | null)[][] = [];
      for (let j = i; j < Math.min(N, i + 100); j++) {
        const k = j % 20;
        const status = k === 1 || k === 2 ? 'offline' : 'online';
        const seen = k === 3 ? now - 3_600_000 : now;
        rows.push([
          id(j),
          `${NAMES[j % 5]} ${j}`,
          status,
          seen,
          'default',
          k === 4 ? now - 60_000 : null,
          now,
          now,
        ]);
      }
      await t.run(
        `INSERT INTO sites (id, name, status, last_seen, mode, fallback_since, created_at, updated_at) VALUES ${rows
          .map(() => '(?, ?, ?, ?, ?, ?, ?, ?)')
          .join(', ')}`,
        rows.flat(),
      );
      const devs: (string | number)[][] = [];
      for (let j = i; j < Math.min(N, i + 100); j++)
        for (const [d, kind] of [
          ['pv1', 'inverter'],
          ['bat1', 'battery'],
          ['m1', 'meter'],
        ])
          devs.push([id(j), d, kind, 'sunspec-tcp', '{}', '[]', now]);
      await t.run(
        `INSERT INTO devices (site_id, id, kind, protocol, nameplate, controls, updated_at) VALUES ${devs
          .map(() => '(?, ?, ?, ?, ?, ?, ?)')
          .join(', ')}`,
        devs.flat(),
      );
    }
    // A refused command at every 50th site.
    for (let j = 0; j < N; j += 50)
      await t.run(
        `INSERT INTO commands (id, site_id, type, body, issued_at, expires_at, issued_by, status, status_at, reason)
         VALUES (?, ?, 'battery_power', '{}', ?, ?, 'user:admin', 'refused', ?, 'device in local mode')`,
        [`cmd_bench${j}`, id(j), now - 1000, now + 60_000, now - 500],
      );
  });
  await registry.createGroup({ id: 'portfolio', name: 'portfolio', kind: 'vpp' });
  await registry.setGroupSites(
    'portfolio',
    Array.from({ length: 100 }, (_, k) => id(k * Math.floor(N / 100))),
  );
  await registry.createUser({
    id: 'pia',
    name: 'participant',
    role: 'participant',
    scopes: [{ kind: 'group', target: 'portfolio' }],
  });
  const secret = 'bench-participant-secret-0123456789';
  await registry.createToken({ id: 'benchpia01', userId: 'pia', secretHash: hashSecret(secret) });
  const piaToken = formatApiToken('benchpia01', secret);
  // Live power, as ingest hands it over (not from the stale sites: telemetry would make them fresh).
  for (let j = 0; j < N; j++)
    if (j % 20 !== 3)
      cloud.live.fleet.onTelemetry(id(j), {
        v: 1,
        site: id(j),
        seq: 1,
        samples: [
          { ts: now, device: 'pv1', values: { w: 3000 } },
          { ts: now, device: 'bat1', values: { w: -500, soc_pct: 50 } },
          { ts: now, device: 'm1', values: { w: 1000 } },
        ],
      });
  await new Promise((r) => setTimeout(r, 2000)); // device kinds loaded
  const seedMs = Date.now() - t0;

  const get = async (path: string, token = TOKEN) => {
    const t = process.hrtime.bigint();
    const res = await fetch(`${cloud.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { total?: number; items?: { power: unknown }[] };
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    return { ms: Number(process.hrtime.bigint() - t) / 1e6, body };
  };
  const cases: [string, string, string?][] = [
    ['first page', '/fleet/sites?limit=50'],
    ['deep page', `/fleet/sites?limit=50&offset=${N - 50}`],
    ['search + sort by status', '/fleet/sites?limit=50&q=farm&sort=status'],
    ['alarms only, by last seen', '/fleet/sites?limit=50&alarm=1&sort=lastSeen&dir=desc'],
    ['summary', '/fleet/summary'],
    ['participant (100-site group)', '/fleet/sites?limit=50', piaToken],
  ];
  const figures: Record<string, unknown> = { sites: N, requests: REQUESTS, seedMs };
  for (const [name, path, token] of cases) {
    const first = await get(path, token);
    if (name === 'first page' && first.body.items?.[0]?.power == null)
      throw new Error('no live power in the list');
    const ms: number[] = [];
    for (let i = 0; i < REQUESTS; i++) ms.push((await get(path, token)).ms);
    figures[name] = {
      path,
      total: first.body.total,
      p50Ms: round(pct(ms, 50), 2),
      p99Ms: round(pct(ms, 99), 2),
      maxMs: round(Math.max(...ms), 2),
    };
  }
  figures.loadavg = loadavg().map((x) => round(x, 2));
  report('fleet-view', figures);
} finally {
  await cloud.stop();
  rmSync(dir, { recursive: true, force: true });
}
