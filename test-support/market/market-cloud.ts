import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Role } from '../../cloud/auth/roles.ts';
import type { CloudConfigInput } from '../../cloud/config.ts';
import type { MarketSettingsInput } from '../../cloud/market/index.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { WholesaleMarket } from '../../sim-devices/iso/wholesale.ts';
import { capabilities, connectGateway, startTestCloud, type TestCloud } from '../cloud/test-cloud.ts';
import type { FeederSpec } from './market-scenario.ts';

/**
 * The setup every market API test repeats: a real cloud (HTTP + embedded MQTT on free ports) with a
 * small radial feeder (see market-scenario.ts), the simulated ISO injected, the market clock under
 * the test's control, cloud users with API tokens (by default the market actors' users), optionally a
 * fake gateway for one site (devices inv1, bat1), and resources registered and certified by a
 * utility user through the API.
 */

type ActorKind = NonNullable<MarketSettingsInput['actors']>[number]['kind'];

/**
 * The cloud role an actor's users get by default: grid and market operators operate, aggregators
 * aggregate, the rest trade for themselves.
 */
const ROLE_OF_ACTOR_KIND: Record<ActorKind, Role> = {
  iso: 'operator',
  utility: 'operator',
  independent_dso: 'operator',
  aggregator: 'aggregator',
  producer: 'participant',
  consumer: 'participant',
  retailer: 'participant',
};

/** Every actor's users, in the cloud role of their actor's kind (the first actor naming a user wins). */
export function actorUsers(market: MarketSettingsInput): [string, Role][] {
  const users = new Map<string, Role>();
  for (const a of market.actors ?? [])
    for (const u of a.users ?? []) if (!users.has(u)) users.set(u, ROLE_OF_ACTOR_KIND[a.kind]);
  return [...users];
}

export interface MarketCloudOptions {
  readonly market: MarketSettingsInput;
  readonly feeder?: FeederSpec;
  /**
   * Cloud users (id, cloud role) made with one API token each; by default the actors' users
   * (actorUsers) followed by `extraUsers`.
   */
  readonly users?: readonly (readonly [string, Role])[];
  /** Users besides the actors' (e.g. a viewer), when `users` is not given. */
  readonly extraUsers?: readonly (readonly [string, Role])[];
  /** Market clock at start (epoch ms). */
  readonly clock: number;
  /** A site with a connected fake gateway that reported capabilities (inv1, bat1). */
  readonly site?: string;
  /** Resource bodies for POST /market/resources, registered by `registrar` (a DGO user). */
  readonly resources?: readonly Record<string, unknown>[];
  readonly certify?: readonly string[];
  readonly registrar?: string;
  /** Extra cloud config (e.g. storage on PostgreSQL). */
  readonly cloud?: Partial<CloudConfigInput>;
}

export interface MarketCloud {
  readonly t: TestCloud;
  readonly tok: Record<string, string>;
  readonly gateway: MqttClient | undefined;
  /** Token option for t.api as the given user. */
  as(user: string): { token: string };
  /** Moves the market clock. */
  setClock(ms: number): void;
  stop(): Promise<void>;
}

export async function startMarketCloud(o: MarketCloudOptions): Promise<MarketCloud> {
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-mkt-'));
  let market: MarketSettingsInput = o.market;
  if (o.feeder) {
    const f = o.feeder;
    writeFileSync(
      join(dir, 'feeder.json'),
      JSON.stringify({
        base_voltage_v: f.base_voltage_v,
        buses: f.buses.map((id, i) => ({
          id,
          type: i === 0 ? 'slack' : 'pq',
          vmin_pu: f.vmin_pu ?? 0.9,
          vmax_pu: f.vmax_pu ?? 1.1,
        })),
        branches: f.branches,
      }),
    );
    market = { networkFile: 'feeder.json', ...market };
  }
  let t: TestCloud;
  try {
    t = await startTestCloud({ ...o.cloud, market }, dir, { iso: new WholesaleMarket({ seed: 1 }) });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const users = o.users ?? [...actorUsers(o.market), ...(o.extraUsers ?? [])];
  let clock = o.clock;
  t.cloud.market!.now = () => clock;
  const tok: Record<string, string> = {};
  let gateway: MqttClient | undefined;
  const self: MarketCloud = {
    t,
    tok,
    get gateway() {
      return gateway;
    },
    as: (user) => ({ token: tok[user] }),
    setClock: (ms) => {
      clock = ms;
    },
    async stop() {
      gateway?.end(true);
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const [id, role] of users) {
      await t.cloud.registry.createUser({ id, name: id, role, scopes: [] });
      const r = await t.api<{ token: string }>('POST', `/users/${id}/tokens`, { body: {} });
      if (r.status !== 201) throw new Error(`token for ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      tok[id] = r.body.token;
    }
    if (o.site) {
      const site = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: o.site } });
      if (site.status !== 201) throw new Error(`site ${o.site}: ${site.status}`);
      gateway = await connectGateway(
        `mqtt://127.0.0.1:${t.cloud.broker.tcp}`,
        o.site,
        site.body.gateway.password,
      );
      await gateway.publishAsync(siteTopic(o.site, 'capabilities'), capabilities(o.site), { qos: 1 });
    }
    const registrar = o.registrar ?? users.find(([, role]) => role === 'operator')?.[0];
    for (const body of o.resources ?? []) {
      const r = await t.api('POST', '/market/resources', { ...self.as(registrar!), body });
      if (r.status !== 201) throw new Error(`register ${body.id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    for (const id of o.certify ?? []) {
      const r = await t.api('PATCH', `/market/resources/${id}`, {
        ...self.as(registrar!),
        body: { status: 'certified' },
      });
      if (r.status !== 200) throw new Error(`certify ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
  } catch (err) {
    await self.stop();
    throw err;
  }
  return self;
}

/** The audit log through the API (bootstrap admin). */
export async function auditLog(t: TestCloud) {
  const r = await t.api<
    { actor: string; action: string; target: string | null; detail: Record<string, unknown> }[]
  >('GET', '/audit?limit=1000');
  return r.body;
}
