/**
 * The demo `gridlayer start` (npm start) sets up on top of the fleet (cli/fleet.ts), so that every
 * view of the operator app has something in it within a minute:
 *
 * - history: days of simulated telemetry per site (cli/demo-history.ts), through the cloud's ingest,
 *   then a forecast run, so forecasts and VPP flexibility envelopes exist at once;
 * - network: the sites placed on the bundled IEEE 33-bus feeder, so the power flow has values;
 * - market: model 4 in demo timing (market.demo: the day-ahead gate of today closes minutes after the
 *   start, the cloud clears DA and then every RT interval as the DMO), one cloud user per role, each
 *   acting for one market organization, and every site's battery registered and certified.
 *
 * None of this is in the production defaults: it is config this module writes (demoCloudConfig) and
 * records it creates through the API (setUpDemo).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { hashPassword } from '../cloud/auth/passwords.ts';
import { formatApiToken, hashSecret, newId, newSecret } from '../cloud/auth/secrets.ts';
import type { CloudService } from '../cloud/service.ts';
import { historyPayloads, simulateSiteHistory } from './demo-history.ts';
import { type Fleet, type FleetOptions, simOptionsFor } from './fleet.ts';

const DAY_MS = 86_400_000;
export const DEMO_FEEDER_ID = 'ieee33';
const FEEDER_DIR = fileURLToPath(new URL('../cloud/network/feeders/ieee33', import.meta.url));
/** Lateral ends and mid-feeder buses of IEEE 33 (voltages differ visibly along the feeder). */
const DEMO_BUSES = ['18', '33', '25', '22', '30', '14', '9', '6', '28', '12'];
/** Where the simulated sites are (sim-devices PvInverter defaults: Amsterdam). */
const DEMO_LOCATION = { latitude: 52.37, longitude: 4.9 };

/** Bus of the IEEE 33-bus feeder that fleet site k (1-based) is connected to. */
export function demoBus(k: number): string {
  return k <= DEMO_BUSES.length ? DEMO_BUSES[k - 1] : String(2 + ((k * 7) % 32));
}

/** Which sites the participant owns and which the aggregator's VPP holds. */
export function demoPortfolios(siteIds: string[]): { participant: string[]; aggregator: string[] } {
  const participant = siteIds.slice(0, 1);
  const rest = siteIds.slice(1);
  return { participant, aggregator: rest.length ? rest : participant };
}

export const DEMO_ACTORS = {
  operator: 'utility',
  dmo: 'dso',
  aggregator: 'flexco',
  participant: 'household',
} as const;
export type DemoRole = keyof typeof DEMO_ACTORS;
export const AGGREGATOR_GROUP = 'flexco-vpp';
/** The aggregator's DA bids per battery for today: [UTC hour, side, W, $/MWh]. */
export const DEMO_AGGREGATOR_BIDS: readonly [number, 'sell' | 'buy', number, number][] = [
  [17, 'sell', 2000, 30],
  [18, 'sell', 2000, 30],
  [21, 'buy', 2500, 60],
  [22, 'buy', 2500, 60],
];

export interface DemoOptions {
  /** Minutes after the start at which today's day-ahead gate closes (default 3). */
  daGateAfterStartMinutes?: number;
  /** Days of backfilled history (default 10: the load model needs 7). */
  historyDays?: number;
}

/**
 * The demo's cloud config: market model 4 in demo timing with one organization per demo user, the
 * IEEE 33-bus feeder, and the sites' location for PV forecasts.
 */
export function demoCloudConfig(o: DemoOptions = {}): Record<string, unknown> {
  return {
    market: {
      model: 4,
      actors: [
        { id: 'iso', kind: 'iso', users: [] },
        { id: DEMO_ACTORS.operator, kind: 'utility', name: 'Utility (DGO)', users: ['operator'] },
        { id: DEMO_ACTORS.dmo, kind: 'independent_dso', name: 'Independent DSO (DMO)', users: ['dmo'] },
        { id: DEMO_ACTORS.aggregator, kind: 'aggregator', name: 'FlexCo aggregator', users: ['aggregator'] },
        {
          id: DEMO_ACTORS.participant,
          kind: 'consumer',
          name: 'Household participant',
          users: ['participant'],
        },
      ],
      demo: { daGateAfterStartMinutes: o.daGateAfterStartMinutes ?? 3, autoClear: true },
      // Hours settle from metered telemetry 2 minutes after they end (production: 15).
      meteredSettlement: { delayMs: 120_000, pollMs: 30_000 },
    },
    // IEEE 33's base case bottoms out at 0.913 pu: a 0.90 pu floor keeps it inside its band.
    network: { feeder: { id: DEMO_FEEDER_ID, dir: FEEDER_DIR, baseKv: 12.66, vminPu: 0.9 } },
    forecast: { location: DEMO_LOCATION, timeZone: 'UTC' },
  };
}

export interface DemoUser {
  id: string;
  role: 'operator' | 'aggregator' | 'participant';
  /** The market organization the user acts for. */
  actor: string;
  token: string;
  /** The password to sign in with (POST /api/v1/auth/login {user, password}). */
  password: string;
  /** Whether the registry holds the password (false: planned, sign in with the token until then). */
  passwordSet: boolean;
}

/** Sets a user's password in the registry; absent until the registry supports passwords. */
export type SetPassword = (userId: string, password: string) => Promise<void>;

/**
 * The demo's users, one per role, each acting for exactly one market organization (so a bid is
 * never ambiguous): operator (the utility, DGO), dmo (the independent DSO, DMO), aggregator (FlexCo,
 * scoped to its VPP group) and participant (the household, scoped to its site). Created with the ids
 * the market config names (demoCloudConfig), each with a fresh API token (issued through the API)
 * and a password. Existing users (a kept data folder) get a new token and password.
 */
export async function createDemoUsers(
  cloud: CloudService,
  portfolios: { participant: string[] },
  setPassword?: SetPassword,
): Promise<DemoUser[]> {
  const plan: {
    id: DemoRole;
    name: string;
    role: DemoUser['role'];
    scopes: { kind: string; target: string }[];
  }[] = [
    { id: 'operator', name: 'Demo DSO operator', role: 'operator', scopes: [{ kind: 'all', target: '*' }] },
    { id: 'dmo', name: 'Demo market operator', role: 'operator', scopes: [{ kind: 'all', target: '*' }] },
    {
      id: 'aggregator',
      name: 'Demo aggregator (FlexCo)',
      role: 'aggregator',
      scopes: [{ kind: 'group', target: AGGREGATOR_GROUP }],
    },
    {
      id: 'participant',
      name: 'Demo participant (household)',
      role: 'participant',
      scopes: portfolios.participant.map((s) => ({ kind: 'site', target: s })),
    },
  ];
  const users: DemoUser[] = [];
  for (const u of plan) {
    if (!(await cloud.registry.getUser(u.id)))
      await cloud.registry.createUser({ ...u, scopes: u.scopes as never });
    const tokenId = newId();
    const secret = newSecret();
    await cloud.registry.createToken({
      id: tokenId,
      userId: u.id,
      secretHash: hashSecret(secret),
      label: 'demo',
      expiresAt: Date.now() + 30 * DAY_MS,
      createdBy: 'system:demo',
    });
    const password = randomBytes(9).toString('base64url');
    if (setPassword) await setPassword(u.id, password);
    await cloud.registry.audit('system:demo', 'user.demo', u.id, { role: u.role });
    users.push({
      id: u.id,
      role: u.role,
      actor: DEMO_ACTORS[u.id],
      token: formatApiToken(tokenId, secret),
      password,
      passwordSet: !!setPassword,
    });
  }
  return users;
}

/** Authorized JSON call with a given token. */
export function apiAs(fleet: Fleet, token: string) {
  return async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${fleet.cloud.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
}

async function waitForDevices(cloud: CloudService, site: string, n: number, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  while ((await cloud.registry.listDevices(site)).length < n) {
    if (Date.now() > until) throw new Error(`demo: site ${site} did not register its ${n} devices`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface DemoSummary {
  users: DemoUser[];
  historyDays: number;
  /** Telemetry samples backfilled over all sites, and how long history + ingest took. */
  samples: number;
  backfillMs: number;
  forecastMs: number;
  forecasts: { ok: number; failed: string[] };
  buses: Record<string, string>;
  portfolios: { participant: string[]; aggregator: string[] };
  resources: string[];
  /** When today's day-ahead gate closes (epoch ms). */
  daGateClosesAt: number;
}

/**
 * Puts the demo's records into a running fleet started with demoCloudConfig(): waits until every
 * site's gateway registered its devices, places the sites on the feeder, backfills their history,
 * creates the VPP groups, the demo users and the market resources, and runs the forecasts.
 */
export async function setUpDemo(
  fleet: Fleet,
  fleetOptions: FleetOptions,
  o: DemoOptions & { setPassword?: SetPassword; progress?: (line: string) => void } = {},
): Promise<DemoSummary> {
  const { cloud } = fleet;
  const say = o.progress ?? (() => undefined);
  const historyDays = o.historyDays ?? 10;
  const ids = fleet.sites.map((s) => s.id);
  const portfolios = demoPortfolios(ids);
  for (const s of fleet.sites) await waitForDevices(cloud, s.id, 3, 30_000);

  const buses: Record<string, string> = {};
  for (const [i, s] of fleet.sites.entries()) {
    buses[s.id] = demoBus(i + 1);
    await fleet.api('PATCH', `/sites/${s.id}`, { feeder: DEMO_FEEDER_ID, node: buses[s.id] });
  }

  say(`backfilling ${historyDays} days of simulated telemetry for ${ids.length} site(s)…`);
  const t0 = Date.now();
  // History ends where the live telemetry begins.
  const to = fleet.startedAt;
  let samples = 0;
  for (const [i, s] of fleet.sites.entries()) {
    const h = await simulateSiteHistory({
      site: simOptionsFor(fleetOptions, i + 1),
      fromMs: to - historyDays * DAY_MS,
      toMs: to,
    });
    // The live site goes on from where its history ends.
    s.sim.battery.socPct = h.finalSocPct;
    for (const p of historyPayloads(s.id, h.samples, 1_000_000_000)) {
      const r = await cloud.ingest.handle(s.id, 'telemetry', p);
      if (r !== 'accepted') throw new Error(`demo: history batch of ${s.id} was ${r}`);
    }
    samples += h.samples.length;
  }
  const backfillMs = Date.now() - t0;

  await fleet.api('POST', '/groups', { id: 'fleet', name: 'All simulated sites', kind: 'vpp', sites: ids });
  await fleet.api('POST', '/groups', {
    id: AGGREGATOR_GROUP,
    name: 'FlexCo VPP',
    kind: 'vpp',
    sites: portfolios.aggregator,
  });
  const users = await createDemoUsers(
    cloud,
    portfolios,
    o.setPassword ??
      (async (id, password) => {
        await cloud.registry.setPasswordHash(id, await hashPassword(password));
      }),
  );

  // Every site's battery in the market, registered and certified by the DGO (the operator user).
  const operator = apiAs(fleet, users.find((u) => u.id === 'operator')!.token);
  const resources: string[] = [];
  for (const s of fleet.sites) {
    const mine = portfolios.participant.includes(s.id);
    const id = `${s.id}-battery`;
    const b = s.sim.battery;
    await operator('POST', '/market/resources', {
      id,
      owner: mine ? DEMO_ACTORS.participant : DEMO_ACTORS.aggregator,
      ...(mine ? {} : { aggregator: DEMO_ACTORS.aggregator }),
      kind: 'battery',
      bus: buses[s.id],
      max_inject_w: b.maxDischargeW,
      max_withdraw_w: b.maxChargeW,
      energy_wh: b.capacityWh,
      soc0_wh: Math.round((b.socPct / 100) * b.capacityWh),
      efficiency: 0.95,
      site: s.id,
      device: 'battery',
    });
    await operator('PATCH', `/market/resources/${id}`, { status: 'certified' });
    resources.push(id);
  }

  // The aggregator's standing offer for today, so the day ahead has something to clear even before
  // anyone bids: its batteries sell in the evening peak and buy the energy back late at night.
  const aggregator = apiAs(fleet, users.find((u) => u.id === 'aggregator')!.token);
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  for (const s of fleet.sites.filter((x) => !portfolios.participant.includes(x.id))) {
    for (const [h, side, quantity_w, price_per_mwh] of DEMO_AGGREGATOR_BIDS)
      await aggregator('POST', '/market/bids', {
        resource: `${s.id}-battery`,
        market: 'DA',
        side,
        interval_start: today + h * 3_600_000,
        steps: [{ quantity_w, price_per_mwh }],
      });
  }

  say('fitting forecasts on the history…');
  const t1 = Date.now();
  const run = await cloud.forecasts.runNow();
  const forecastMs = Date.now() - t1;
  const all = [...run.sites, ...run.groups];
  const failed = all
    .filter((r) => r.status !== 'ok')
    .map((r) => `${r.id} ${r.kind}: ${r.reason ?? r.status}`);

  const market = cloud.market;
  return {
    users,
    historyDays,
    samples,
    backfillMs,
    forecastMs,
    forecasts: { ok: all.length - failed.length, failed },
    buses,
    portfolios,
    resources,
    daGateClosesAt: market ? today - market.gates.daGateBeforeDayMs : Number.NaN,
  };
}
