import assert from 'node:assert/strict';
import { capabilitiesSchema } from '../../protocols/mqtt/payloads.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { type RunningPostgres, startPostgres } from '../../test-support/postgres.ts';
import type { CloudConfigInput } from '../config.ts';
import type { PointRow } from '../storage/timeseries/types.ts';

const MIN = 60_000;
const STEP = 15 * MIN;
const DAY = 86_400_000;

/** Deterministic noise in [−1, 1] per (seed, quarter hour). */
const noise = (seed: number, q: number) => {
  const x = Math.sin(q * 12.9898 + seed * 78.233) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
};

/**
 * Site load per quarter hour (W), constant within it, so the 15-minute truth is exactly this.
 * 'jag': a saw-tooth that repeats every week (weekends differ) plus a little noise: weekly
 *   persistence is nearly exact, while a model that smooths neighbouring slots cannot follow it.
 * 'smooth': a smooth daily shape with strong noise: averaging similar days beats copying one.
 */
function truth(site: string, t: number): number {
  const q = Math.floor(t / STEP);
  const h = ((q * STEP) % DAY) / 3_600_000;
  const weekend = [0, 6].includes(new Date(q * STEP).getUTCDay());
  if (site === 'jag') return 1000 + (q % 2 ? 700 : -700) * (weekend ? 0.5 : 1) + 20 * noise(1, q);
  if (site === 'smooth') return 600 + 900 * Math.exp(-(((h - 19) / 2) ** 2)) + 250 * noise(2, q);
  throw new Error(site);
}

/** 5-minute meter telemetry (export +): the meter is the only device, so load = −meter. */
function telemetry(site: string, from: number, to: number): PointRow[] {
  const rows: PointRow[] = [];
  for (let t = from; t < to; t += 5 * MIN)
    rows.push({ site, device: 'm1', point: 'w', ts: t, value: -truth(site, t) });
  return rows;
}

const caps = (site: string) =>
  capabilitiesSchema.parse({
    v: 1,
    site,
    ts: Date.now(),
    devices: [{ id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] }],
  });

interface Interval {
  start: number;
  p10: number;
  p50: number;
  p90: number;
}
interface Served {
  issuedAt: number;
  modelVersion: string;
  intervals: Interval[];
  status: { status: string; reason: string | null } | null;
  details: {
    fallback?: { baseline: string; model: string };
    model?: { p10: number[]; p50: number[]; p90: number[] };
  };
}
interface Metrics {
  intervals: number;
  mae: number;
  rmse: number;
  baselines: Record<'persistence_1d' | 'persistence_7d', { mae: number; rmse: number }>;
  skill_1d: number | null;
  skill_7d: number | null;
  better_baseline: string;
  skill: number | null;
  pinball: { p10: number; p50: number; p90: number; mean: number };
  coverage: { below_p10: number; below_p50: number; below_p90: number; p10_p90: number };
}
interface Scores {
  windowDays: number;
  models: {
    modelVersion: string;
    forecasts: number;
    served: Record<string, number>;
    metrics: Metrics | null;
  }[];
  assessment: {
    modelVersion: string | null;
    flagged: boolean;
    skill: number | null;
    betterBaseline: string | null;
    intervals: number;
  };
}

/**
 * The metrics written out from their definitions, for comparing with what the cloud computed. Every
 * forecast here is day-ahead from midnight, so the baselines are exactly t − 1 d and t − 7 d.
 */
function expected(forecasts: { intervals: Interval[] }[], actual: (t: number) => number) {
  let n = 0;
  let abs = 0;
  let sq = 0;
  let abs1 = 0;
  let abs7 = 0;
  let sq7 = 0;
  const pin = [0, 0, 0];
  const below = [0, 0, 0];
  let inBand = 0;
  const loss = (y: number, f: number, q: number) => (y >= f ? q * (y - f) : (1 - q) * (f - y));
  for (const f of forecasts)
    for (const iv of f.intervals) {
      const y = actual(iv.start);
      n++;
      abs += Math.abs(y - iv.p50);
      sq += (y - iv.p50) ** 2;
      abs1 += Math.abs(y - actual(iv.start - DAY));
      abs7 += Math.abs(y - actual(iv.start - 7 * DAY));
      sq7 += (y - actual(iv.start - 7 * DAY)) ** 2;
      [iv.p10, iv.p50, iv.p90].forEach((p, k) => {
        pin[k] += loss(y, p, [0.1, 0.5, 0.9][k]);
        if (y <= p) below[k]++;
      });
      if (y >= iv.p10 && y <= iv.p90) inBand++;
    }
  const mae = abs / n;
  return {
    intervals: n,
    mae,
    rmse: Math.sqrt(sq / n),
    mae1: abs1 / n,
    mae7: abs7 / n,
    rmse7: Math.sqrt(sq7 / n),
    skill_1d: 1 - mae / (abs1 / n),
    skill_7d: 1 - mae / (abs7 / n),
    skill: 1 - mae / Math.min(abs1 / n, abs7 / n),
    pinball: pin.map((p) => p / n),
    below: below.map((b) => b / n),
    inBand: inBand / n,
  };
}

const close = (a: number | null | undefined, b: number, what: string) =>
  assert.ok(
    a !== null && a !== undefined && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)),
    `${what}: ${a} ≠ ${b}`,
  );

function assertMetrics(m: Metrics | null, e: ReturnType<typeof expected>, what: string) {
  assert.ok(m, `${what}: metrics present`);
  assert.equal(m.intervals, e.intervals, `${what}: intervals`);
  close(m.mae, e.mae, `${what} mae`);
  close(m.rmse, e.rmse, `${what} rmse`);
  close(m.baselines.persistence_1d.mae, e.mae1, `${what} persistence_1d mae`);
  close(m.baselines.persistence_7d.mae, e.mae7, `${what} persistence_7d mae`);
  close(m.baselines.persistence_7d.rmse, e.rmse7, `${what} persistence_7d rmse`);
  close(m.skill_1d, e.skill_1d, `${what} skill_1d`);
  close(m.skill_7d, e.skill_7d, `${what} skill_7d`);
  close(m.skill, e.skill, `${what} skill`);
  close(m.pinball.p10, e.pinball[0], `${what} pinball p10`);
  close(m.pinball.p50, e.pinball[1], `${what} pinball p50`);
  close(m.pinball.p90, e.pinball[2], `${what} pinball p90`);
  close(m.coverage.below_p10, e.below[0], `${what} below p10`);
  close(m.coverage.below_p50, e.below[1], `${what} below p50`);
  close(m.coverage.below_p90, e.below[2], `${what} below p90`);
  close(m.coverage.p10_p90, e.inBand, `${what} p10-p90 coverage`);
}

scoringSuite('SQLite registry', async () => ({}));

let pgServer: RunningPostgres | undefined;
scoringSuite(
  'PostgreSQL registry (real server)',
  async () => {
    pgServer = await startPostgres();
    return {
      storage: {
        timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
        registry: { backend: 'postgres', connectionString: pgServer.connectionString },
      },
    };
  },
  async () => pgServer?.stop(),
);

function scoringSuite(
  name: string,
  storage: () => Promise<Partial<CloudConfigInput>>,
  cleanup: () => Promise<void> = async () => {},
) {
  describe(`continuous forecast scoring in the cloud: issued forecasts vs stored actuals and persistence (${name})`, function () {
    this.timeout(120_000);
    let t: TestCloud;
    // Four day-ahead runs at UTC midnight (the last one yesterday), so every forecast is in the window.
    const last = Math.floor(Date.now() / DAY) * DAY - DAY;
    const issues = [last - 3 * DAY, last - 2 * DAY, last - DAY, last];
    const served: Record<string, Served[]> = { jag: [], smooth: [], g: [] };
    const summaries: Awaited<ReturnType<TestCloud['cloud']['forecasts']['runNow']>>[] = [];
    let viewer = '';

    before(async () => {
      t = await startTestCloud({
        ...(await storage()),
        forecast: { enabled: false, timeZone: 'UTC', scoring: { windowDays: 7, minIntervals: 288 } },
      });
      for (const site of ['jag', 'smooth']) {
        assert.equal((await t.api('POST', '/sites', { body: { id: site } })).status, 201);
        await t.cloud.registry.applyCapabilities(caps(site));
        // Telemetry up to the end of the last forecast's day; each run only reads what precedes it.
        await t.cloud.store.write(telemetry(site, issues[0] - 35 * DAY, last + DAY));
      }
      const g = await t.api('POST', '/groups', {
        body: { id: 'g', name: 'g', kind: 'vpp', sites: ['jag', 'smooth'] },
      });
      assert.equal(g.status, 201);
      const u = await t.api<{ id: string }>('POST', '/users', {
        body: { name: 'owner', role: 'viewer', scopes: [{ kind: 'site', target: 'smooth' }] },
      });
      viewer = (await t.api<{ token: string }>('POST', `/users/${u.body.id}/tokens`, { body: {} })).body
        .token;

      for (const issueTime of issues) {
        summaries.push(await t.cloud.forecasts.runNow({ issueTime }));
        for (const [id, path] of [
          ['jag', '/sites/jag/forecast'],
          ['smooth', '/sites/smooth/forecast'],
          ['g', '/groups/g/forecast'],
        ]) {
          const r = await t.api<Served>('GET', `${path}?kind=load`);
          assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.issuedAt, issueTime);
          served[id].push(r.body);
        }
      }
      // A fifth run scores the forecast issued last (its day has ended by then).
      summaries.push(await t.cloud.forecasts.runNow({ issueTime: last + DAY }));
    });
    after(async () => {
      await t?.stop();
      await cleanup();
    });

    it('scores each forecast once its horizon has ended: none in the first run, then the previous day’s', () => {
      // Per run: 2 site load forecasts + 1 group load forecast become due (PV: no inverters, none made).
      assert.deepEqual(
        summaries.map((s) => s.scored),
        [0, 3, 3, 3, 3],
      );
    });

    it('reports MAE, RMSE, both skills, pinball and coverage as computed from the served forecasts by hand', async () => {
      const r = await t.api<Scores>('GET', '/sites/smooth/forecast/scores?kind=load');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.windowDays, 7);
      assert.equal(r.body.models.length, 1);
      const [m] = r.body.models;
      assert.match(m.modelVersion, /^load-similar-day\//);
      assert.equal(m.forecasts, 4);
      assert.deepEqual(m.served, { model: 4, persistence_1d: 0, persistence_7d: 0 });
      const e = expected(served.smooth, (x) => truth('smooth', x));
      assert.equal(e.intervals, 4 * 96);
      assertMetrics(m.metrics, e, 'smooth');
      // Averaging similar days beats copying one noisy day: not flagged.
      assert.ok(e.skill > 0, `smooth skill ${e.skill}`);
      assert.equal(r.body.assessment.flagged, false);
      assert.equal(served.smooth.at(-1)?.modelVersion, m.modelVersion);
    });

    it('a rolling window: days=2 holds only the forecasts issued in the last two days', async () => {
      const r = await t.api<Scores>('GET', '/sites/smooth/forecast/scores?kind=load&days=2');
      assert.equal(r.status, 200);
      const inWindow = served.smooth.filter((f) => f.issuedAt >= Date.now() - 2 * DAY);
      assert.ok(inWindow.length >= 1 && inWindow.length < 4, `${inWindow.length} forecasts in 2 days`);
      assert.equal(r.body.models[0].forecasts, inWindow.length);
      assertMetrics(
        r.body.models[0].metrics,
        expected(inWindow, (x) => truth('smooth', x)),
        'smooth, 2 days',
      );
    });

    it('flags a model worse than weekly persistence and serves that baseline instead, still scoring the model', async () => {
      const jag = served.jag;
      // The first three forecasts (288 intervals by the fourth run) came from the model.
      for (const f of jag.slice(0, 3)) assert.match(f.modelVersion, /^load-similar-day\//);
      const e3 = expected(jag.slice(0, 3), (x) => truth('jag', x));
      assert.ok(e3.skill_7d < 0, `the model must lose to weekly persistence here (skill ${e3.skill_7d})`);
      // The fourth was the weekly baseline: last week's values at the same time.
      const fb = jag[3];
      assert.equal(fb.modelVersion, 'persistence-7d/1');
      assert.equal(fb.details.fallback?.baseline, 'persistence_7d');
      assert.match(fb.status?.reason ?? '', /serving persistence_7d/);
      assert.equal(fb.intervals.length, 96);
      for (const iv of fb.intervals)
        close(iv.p50, truth('jag', iv.start - 7 * DAY), `fallback p50 at ${iv.start}`);
      assert.deepEqual(
        summaries.map((s) => s.fallbacks.map((f) => `${f.id}/${f.kind}/${f.baseline}`)),
        [[], [], [], ['jag/load/persistence_7d'], ['jag/load/persistence_7d']],
      );

      const r = await t.api<Scores>('GET', '/sites/jag/forecast/scores?kind=load');
      assert.equal(r.status, 200);
      const [m] = r.body.models;
      assert.match(m.modelVersion, /^load-similar-day\//);
      assert.deepEqual(m.served, { model: 3, persistence_1d: 0, persistence_7d: 1 });
      // The model is scored on its own forecasts, the fourth one kept beside the served baseline.
      const model = fb.details.model as { p10: number[]; p50: number[]; p90: number[] };
      const shadow = {
        intervals: fb.intervals.map((iv, j) => ({
          start: iv.start,
          p10: model.p10[j],
          p50: model.p50[j],
          p90: model.p90[j],
        })),
      };
      assertMetrics(
        m.metrics,
        expected([...jag.slice(0, 3), shadow], (x) => truth('jag', x)),
        'jag',
      );
      assert.equal(r.body.assessment.flagged, true);
      assert.equal(r.body.assessment.betterBaseline, 'persistence_7d');
      assert.equal(r.body.assessment.intervals, 4 * 96);
    });

    it('scores groups against the sum of their members’ actuals, per model version', async () => {
      const r = await t.api<Scores>('GET', '/groups/g/forecast/scores?kind=load');
      assert.equal(r.status, 200);
      // The aggregate's version names its members' models: it changed when jag got its fallback.
      const [withFallback, before] = r.body.models;
      assert.equal(r.body.models.length, 2);
      assert.match(before.modelVersion, /^aggregate\/1\(load-similar-day\/1\)$/);
      assert.match(withFallback.modelVersion, /persistence-7d\/1/);
      assert.equal(before.forecasts, 3);
      assert.equal(withFallback.forecasts, 1);
      const sum = (x: number) => truth('jag', x) + truth('smooth', x);
      assertMetrics(before.metrics, expected(served.g.slice(0, 3), sum), 'group g, model only');
      assertMetrics(withFallback.metrics, expected(served.g.slice(3), sum), 'group g, with fallback');
    });

    it('is described in the OpenAPI document', async () => {
      const doc = (await fetch(`${t.cloud.apiUrl}/openapi.json`).then((r) => r.json())) as {
        paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
      };
      for (const p of ['/api/v1/sites/{site}/forecast/scores', '/api/v1/groups/{group}/forecast/scores']) {
        const get = doc.paths[p]?.get;
        assert.ok(get, `${p} in openapi.json`);
        assert.deepEqual(
          (get.parameters ?? []).map((x) => x.name).filter((n) => n === 'kind' || n === 'days'),
          ['kind', 'days'],
        );
      }
    });

    it('answers for a subject without scores, and keeps to auth and scopes', async () => {
      const none = await t.api<Scores>('GET', '/sites/smooth/forecast/scores?kind=pv');
      assert.equal(none.status, 200);
      assert.deepEqual(none.body.models, []);
      assert.equal(none.body.assessment.flagged, false);
      assert.equal((await t.api('GET', '/sites/nope/forecast/scores')).status, 404);
      assert.equal((await t.api('GET', '/sites/smooth/forecast/scores?days=0')).status, 400);
      assert.equal((await t.api('GET', '/sites/smooth/forecast/scores', { token: viewer })).status, 200);
      assert.equal((await t.api('GET', '/sites/jag/forecast/scores', { token: viewer })).status, 403);
      assert.equal((await t.api('GET', '/groups/g/forecast/scores', { token: viewer })).status, 403);
      assert.equal((await fetch(`${t.cloud.apiUrl}/sites/smooth/forecast/scores`)).status, 401);
    });
  });
}
