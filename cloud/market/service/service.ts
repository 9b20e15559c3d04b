import { readFileSync } from 'node:fs';
import { newId } from '../../auth/secrets.ts';
import { type ControlQuery, type ControlRules, controlSender } from '../../control-rules.ts';
import { buildNetwork, type Network } from '../../network/index.ts';
import type { Registry } from '../../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../../storage/timeseries/types.ts';
import { type Bid, BidBook, GRID_SERVICES, gateClosure, type Step } from '../model/bids.ts';
import { MarketServiceError } from '../model/errors.ts';
import type {
  AwardRecord,
  DispatchRecord,
  LedgerEntry,
  ResourceLink,
  MarketKind as RunMarket,
  RunRecord,
  StoredResource,
} from '../model/records.ts';
import { ResourceRegistry, ResourceSchema, type ResourceStatus } from '../model/resources.ts';
import {
  type Actor,
  type ActorKind,
  type MarketConfig,
  modelConfig,
  type Role,
  rolesOf,
} from '../model/roles.ts';
import { checkControl, checkMayDispatch, MarketRefusal, refuse, separationRefusal } from '../model/rules.ts';
import type { MarketSettings } from '../model/settings.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';
import { checkBooks, Ledger, totalsByAccount } from '../settlement/ledger.ts';
import { meteredRun } from '../settlement/metered-run.ts';
import { runCentralizedDayAhead, runCentralizedRealTime } from './centralized.ts';
import type { MarketCaller, MarketContext, MarketIso } from './context.ts';
import type { SendCommand } from './dispatch.ts';
import { KeyedLock } from './hour-lock.ts';
import { requireNodal, runNodalDayAhead, runNodalRealTime } from './nodal.ts';
import { P2pMarket } from './p2p.ts';
import { MarketStore } from './store.ts';
import { MarketFormsStore } from './store-forms.ts';
import { type CertificationRecord, OnboardingStore, type StoredActor } from './store-onboarding.ts';

/**
 * The market as a cloud service: the configured organizational model, registered resources, the
 * bid book with gate closure on an injectable clock, clearing on demand (DA day / RT interval),
 * persisted awards, prices, settlement ledger and dispatch outcomes, and an audit entry for every
 * action (accepted or refused). Pure market logic stays in the core modules; this class only
 * resolves who is acting, calls the core, stores and audits.
 */

export interface MarketServiceDeps {
  readonly registry: Registry;
  readonly settings: MarketSettings;
  /** Absent: no wholesale counterpart; clearing that needs the ISO is refused with NO_ISO (503). */
  readonly iso?: MarketIso;
  /** Network model of the LDA; default: loaded from settings.networkFile, else none. */
  readonly network?: Network | null;
  readonly send?: SendCommand;
  /** The cloud's telemetry store: metered settlement reads delivered energy from it. */
  readonly timeseries?: TimeSeriesStore;
  readonly maxTtlSeconds?: number;
  readonly now?: () => number;
  /** Called after a clearing run is stored. */
  readonly onRun?: (run: RunRecord) => void;
}

export interface ResourceInput extends Omit<StoredResource, 'status'> {
  readonly status?: ResourceStatus;
}

/**
 * Demo gates (settings.demo): the DA gate of the UTC day containing `startMs` closes `afterMinutes`
 * after it; as gateClosure() subtracts daGateBeforeDayMs from each day's start, that is a negative
 * lead (the gate closes inside its delivery day), the same time of day for every later day.
 */
export function demoGates(
  gates: MarketSettings['gates'],
  afterMinutes: number,
  startMs: number,
): MarketSettings['gates'] {
  const dayStart = Math.floor(startMs / DAY_MS) * DAY_MS;
  return { ...gates, daGateBeforeDayMs: dayStart - (startMs + Math.round(afterMinutes * 60_000)) };
}

/** Organizations the API may register: market participants; operating roles are the model's (config). */
export const REGISTRABLE_ACTOR_KINDS = ['aggregator', 'producer', 'consumer', 'retailer'] as const;

export class MarketService implements MarketContext {
  readonly config: MarketConfig;
  readonly resources = new ResourceRegistry();
  readonly links = new Map<string, ResourceLink>();
  readonly book = new BidBook();
  readonly store: MarketStore;
  /** ISO-award screening (models 1, 2) and the P2P book and trades (models 5, 6). */
  readonly forms: MarketFormsStore;
  /** The continuous double auction per territory; only in P2P models. */
  readonly p2p: P2pMarket | null;
  readonly network: Network | null;
  /** The market clock (epoch ms): gate closures are judged against it. Tests replace it. */
  now: () => number;
  /** The RT scheduler's state (rt-scheduler.ts) when it runs; GET /market shows it as `realtime`. */
  realtimeState: (() => unknown) | undefined = undefined;
  readonly #usersOf = new Map<string, Set<string>>();
  /** Onboarding records (migration 14): API-registered organizations, user links, certification decisions. */
  readonly onboarding: OnboardingStore;
  /** Organizations and user links from the config (the seed): the API adds to them, never removes them. */
  readonly #configActors = new Set<string>();
  readonly #configLinks = new Set<string>();
  /** Where each organization's user links came from, for the listing. */
  readonly #linkedBy = new Map<string, { linkedAt: number; linkedBy: string }>();
  readonly #apiActors = new Map<string, StoredActor>();
  /** The gates in force: the configured ones, or the demo's relative to the start (settings.demo). */
  readonly #gates: MarketSettings['gates'];
  readonly #meteredLock = new KeyedLock<number>();

  private constructor(readonly deps: MarketServiceDeps) {
    const s = deps.settings;
    this.config = modelConfig(
      s.model,
      s.actors.map((a) => ({ id: a.id, kind: a.kind, ...(a.name ? { name: a.name } : {}) })),
      s.utilityDerMayParticipate !== undefined
        ? { utilityDerMayParticipate: s.utilityDerMayParticipate }
        : {},
    );
    for (const a of s.actors) {
      this.#usersOf.set(a.id, new Set(a.users));
      this.#configActors.add(a.id);
      for (const u of a.users) this.#configLinks.add(`${a.id}\u0000${u}`);
    }
    this.onboarding = new OnboardingStore(deps.registry.db);
    this.store = new MarketStore(deps.registry.db, deps.onRun);
    this.forms = new MarketFormsStore(deps.registry.db);
    this.network =
      deps.network !== undefined
        ? deps.network
        : s.networkFile
          ? buildNetwork(JSON.parse(readFileSync(s.networkFile, 'utf8')))
          : null;
    this.now = deps.now ?? Date.now;
    this.#gates = s.demo ? demoGates(s.gates, s.demo.daGateAfterStartMinutes, this.now()) : s.gates;
    this.p2p = this.config.marketForm === 'p2p' ? new P2pMarket(this) : null;
  }

  /** Builds the service and restores resources and live bids from the registry database. */
  static async open(deps: MarketServiceDeps): Promise<MarketService> {
    const m = new MarketService(deps);
    for (const a of await m.onboarding.actors()) {
      // A config actor of the same id wins (the config seeds; registration refuses duplicates anyway).
      if (m.config.actors.has(a.id)) continue;
      m.#addActor(a);
    }
    for (const l of await m.onboarding.links()) m.#addLink(l.actor, l.user, l);
    for (const r of await m.store.loadResources()) {
      const { site, device, ...res } = r;
      m.resources.add(res);
      m.links.set(r.id, { site, device });
    }
    for (const b of await m.store.liveBids()) {
      try {
        // Restored as accepted before: gate closure was judged when they were submitted.
        m.book.submit(b, { config: m.config, registry: m.resources, now: Number.NEGATIVE_INFINITY });
      } catch (err) {
        if (!(err instanceof MarketRefusal)) throw err;
        await m.store.saveBid(b, 'cancelled', m.now());
      }
    }
    await m.p2p?.restore();
    return m;
  }

  /** The injected wholesale counterpart, or a 503 refusal when none is configured. */
  iso(): MarketIso {
    if (!this.deps.iso)
      throw new MarketServiceError('NO_ISO', 'no wholesale market (ISO) is connected to this cloud');
    return this.deps.iso;
  }

  get gates() {
    return this.#gates;
  }

  get settings(): MarketSettings {
    return this.deps.settings;
  }

  get send(): SendCommand | undefined {
    return this.deps.send;
  }

  get maxTtlSeconds(): number | undefined {
    return this.deps.maxTtlSeconds;
  }

  // --- who is acting ------------------------------------------------------------------------------

  /** Market organizations a cloud user acts for. */
  #linksBySite: Map<string, { id: string; device: string | undefined }[]> | undefined;

  /** Market resources linked to a site, indexed once per change of the links. */
  #linkedAt(site: string) {
    if (!this.#linksBySite) {
      this.#linksBySite = new Map();
      for (const [id, l] of this.links) {
        if (!l.site) continue;
        const list = this.#linksBySite.get(l.site) ?? [];
        list.push({ id, device: l.device });
        this.#linksBySite.set(l.site, list);
      }
    }
    return this.#linksBySite.get(site) ?? [];
  }

  /**
   * The rules of every control path (cloud/control-rules.ts), for the command pipeline: the market
   * resources the command reaches (the device's, or every one linked to the site when it names no
   * device) checked with `checkControl`. A VPP dispatch and a direct command control as the DERM,
   * for the user behind them; the market's own sends as the role they name.
   */
  readonly controlRules: ControlRules = (q: ControlQuery) => {
    const s = controlSender(q);
    const as = s.path === 'market' ? s.as : 'DERM';
    const actsFor = s.path === 'market' ? [s.org] : s.user ? this.actorsOf(s.user) : [];
    const sender =
      s.path === 'market' ? `the market acting for "${s.org}"` : s.user ? `user "${s.user}"` : `"${q.actor}"`;
    const reached = this.#linkedAt(q.site)
      .filter((l) => q.device === undefined || l.device === undefined || l.device === q.device)
      .map((l) => l.id);
    for (const resource of reached.length ? reached : [null]) {
      const rule = checkControl(this.config, this.resources, { resource, as, sender, actsFor });
      if (rule) return new MarketRefusal(rule);
    }
    return null;
  };

  actorsOf(userId: string): string[] {
    return [...this.#usersOf].filter(([, users]) => users.has(userId)).map(([id]) => id);
  }

  rolesOf(userId: string): Record<string, Role[]> {
    return Object.fromEntries(this.actorsOf(userId).map((a) => [a, rolesOf(this.config, a)]));
  }

  /** The organization through which the user holds `role`, or a 403. */
  actingAs(userId: string, role: 'DMO' | 'DGO' | 'DERM'): string {
    const a = this.actorsOf(userId).find((id) => this.config.roles[role] === id);
    if (!a)
      throw new MarketServiceError(
        `NOT_${role}`,
        `user "${userId}" does not act for the ${role} ("${this.config.roles[role]}") of this market`,
      );
    return a;
  }

  participant(userId: string, requested?: string): string {
    const mine = this.actorsOf(userId);
    if (requested !== undefined) {
      if (!mine.includes(requested))
        throw new MarketServiceError('NOT_YOURS', `user "${userId}" does not act for "${requested}"`);
      return requested;
    }
    if (mine.length === 1) return mine[0];
    if (!mine.length)
      throw new MarketServiceError('NO_MARKET_ACTOR', `user "${userId}" acts for no market organization`);
    throw new MarketServiceError(
      'AMBIGUOUS_PARTICIPANT',
      `user "${userId}" acts for ${mine.join(', ')}: say which one as "participant"`,
    );
  }

  /** Writes one market action to the registry audit log (also used by the market-form modules). */
  async audit(c: MarketCaller, action: string, target: string | null, detail: Record<string, unknown>) {
    await this.deps.registry.audit(c.auditActor, action, target, detail);
  }

  /** Runs `fn`; a refusal is audited with its reason before it propagates. */
  async guard<T>(
    c: MarketCaller,
    action: string,
    target: string | null,
    detail: Record<string, unknown>,
    fn: () => Promise<T> | T,
  ): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof MarketRefusal || err instanceof MarketServiceError) {
        const refusal = err instanceof MarketRefusal ? err.refusal : { code: err.code, reason: err.message };
        await this.audit(c, `${action}.refused`, target, { ...detail, refusal });
      }
      throw err;
    }
  }

  // --- DMO: onboarding organizations and their users --------------------------------------------

  #addActor(a: StoredActor) {
    const actor: Actor = { id: a.id, kind: a.kind, ...(a.name ? { name: a.name } : {}) };
    // The rules read config.actors: an API-registered organization is in the same map as the config's.
    (this.config.actors as Map<string, Actor>).set(a.id, actor);
    this.#apiActors.set(a.id, a);
    if (!this.#usersOf.has(a.id)) this.#usersOf.set(a.id, new Set());
  }

  #addLink(actor: string, user: string, by: { linkedAt: number; linkedBy: string }) {
    if (!this.config.actors.has(actor)) return;
    this.#usersOf.get(actor)!.add(user);
    this.#linkedBy.set(`${actor}\u0000${user}`, by);
  }

  /** DMO: registers a market participant organization (aggregator, producer, consumer, retailer). */
  async registerActor(c: MarketCaller, input: { id: string; kind: ActorKind; name?: string }) {
    return this.guard(c, 'market.actor.register', input.id, { input }, async () => {
      const by = this.actingAs(c.userId, 'DMO');
      if (!(REGISTRABLE_ACTOR_KINDS as readonly string[]).includes(input.kind))
        throw new MarketRefusal(
          refuse(
            'MALFORMED',
            `kind "${input.kind}" holds an operating role of the model: it comes from the config (market.actors), the API registers ${REGISTRABLE_ACTOR_KINDS.join(', ')}`,
          ),
        );
      if (this.config.actors.has(input.id))
        throw new MarketServiceError('DUPLICATE_ACTOR', `organization "${input.id}" already exists`);
      const a: StoredActor = {
        id: input.id,
        kind: input.kind,
        ...(input.name ? { name: input.name } : {}),
        registeredAt: this.now(),
        registeredBy: c.userId,
      };
      await this.onboarding.saveActor(a);
      this.#addActor(a);
      await this.audit(c, 'market.actor.register', a.id, { as: by, actor: a });
      return this.#actorView(a.id);
    });
  }

  #actorView(id: string) {
    const a = this.config.actors.get(id)!;
    const api = this.#apiActors.get(id);
    const users = [...(this.#usersOf.get(id) ?? [])].sort().map((u) => {
      const l = this.#linkedBy.get(`${id}\u0000${u}`);
      return this.#configLinks.has(`${id}\u0000${u}`)
        ? { user: u, source: 'config' as const }
        : { user: u, source: 'api' as const, ...l };
    });
    return {
      ...a,
      source: api ? ('api' as const) : ('config' as const),
      ...(api ? { registeredAt: api.registeredAt, registeredBy: api.registeredBy } : {}),
      roles: rolesOf(this.config, id),
      users,
    };
  }

  /** Organizations: all of them for the DMO and the DGO, otherwise the ones the user acts for. */
  listActors(c: MarketCaller) {
    const mine = this.actorsOf(c.userId);
    const all = mine.includes(this.config.roles.DMO) || mine.includes(this.config.roles.DGO);
    return [...this.config.actors.keys()]
      .filter((id) => all || mine.includes(id))
      .map((id) => this.#actorView(id));
  }

  /** DMO: lets a cloud user act for an organization (in addition to the config's users). */
  async linkUser(c: MarketCaller, actor: string, user: string) {
    return this.guard(c, 'market.actor.link', actor, { user }, async () => {
      const by = this.actingAs(c.userId, 'DMO');
      if (!this.config.actors.has(actor))
        throw new MarketServiceError('UNKNOWN_ACTOR', `no market organization "${actor}"`);
      if (!(await this.deps.registry.getUser(user)))
        throw new MarketServiceError('UNKNOWN_USER', `no cloud user "${user}"`);
      const l = { actor, user, linkedAt: this.now(), linkedBy: c.userId };
      if (this.#usersOf.get(actor)!.has(user))
        throw new MarketServiceError('DUPLICATE_LINK', `user "${user}" already acts for "${actor}"`);
      await this.onboarding.link(l);
      this.#addLink(actor, user, l);
      await this.audit(c, 'market.actor.link', actor, { as: by, user });
      return this.#actorView(actor);
    });
  }

  /** DMO: ends an API link of a user to an organization (the config's links stay: edit the config). */
  async unlinkUser(c: MarketCaller, actor: string, user: string) {
    return this.guard(c, 'market.actor.unlink', actor, { user }, async () => {
      const by = this.actingAs(c.userId, 'DMO');
      if (!this.config.actors.has(actor))
        throw new MarketServiceError('UNKNOWN_ACTOR', `no market organization "${actor}"`);
      if (this.#configLinks.has(`${actor}\u0000${user}`))
        throw new MarketServiceError(
          'CONFIG_LINK',
          `user "${user}" acts for "${actor}" by the config (market.actors[].users): change it there`,
        );
      if (!(await this.onboarding.unlink(actor, user)))
        throw new MarketServiceError('UNKNOWN_LINK', `user "${user}" does not act for "${actor}"`);
      this.#usersOf.get(actor)!.delete(user);
      this.#linkedBy.delete(`${actor}\u0000${user}`);
      await this.audit(c, 'market.actor.unlink', actor, { as: by, user });
      return this.#actorView(actor);
    });
  }

  /**
   * The interconnection record: every status decision, who made it (user and DGO organization) and
   * when. The DGO and the DMO see every resource's; a participant the resources it owns or aggregates.
   */
  async certifications(c: MarketCaller, resource?: string): Promise<CertificationRecord[]> {
    const mine = this.actorsOf(c.userId);
    const all = mine.includes(this.config.roles.DMO) || mine.includes(this.config.roles.DGO);
    const rows = await this.onboarding.certifications(resource);
    return rows.filter((r) => {
      if (all) return true;
      const res = this.resources.get(r.resource);
      return (
        res !== undefined &&
        (mine.includes(res.owner) || (res.aggregator !== undefined && mine.includes(res.aggregator)))
      );
    });
  }

  // --- utility: registration and interconnection ----------------------------------------------

  async registerResource(c: MarketCaller, input: ResourceInput): Promise<StoredResource> {
    return this.guard(c, 'market.resource.register', input.id, { input }, async () => {
      const by = this.actingAs(c.userId, 'DGO');
      const { site, device, ...rest } = input;
      const parsed = ResourceSchema.safeParse({ status: 'registered', ...rest });
      if (!parsed.success)
        throw new MarketRefusal(
          refuse('MALFORMED', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')),
        );
      const r = parsed.data;
      for (const who of [r.owner, r.aggregator])
        if (who !== undefined && !this.config.actors.has(who))
          throw new MarketRefusal(refuse('UNKNOWN_PARTICIPANT', `"${who}" is not a market organization`));
      if (r.aggregator !== undefined && this.config.actors.get(r.aggregator)!.kind !== 'aggregator')
        throw new MarketRefusal(refuse('MALFORMED', `"${r.aggregator}" is not an aggregator`));
      if (this.network && !this.network.buses.some((b) => b.id === r.bus))
        throw new MarketRefusal(refuse('MALFORMED', `bus "${r.bus}" is not in the network model`));
      if (site !== undefined && !(await this.deps.registry.getSite(site)))
        throw new MarketServiceError('UNKNOWN_SITE', `site "${site}" is not in the registry`);
      if (device !== undefined && (site === undefined || !(await this.deps.registry.getDevice(site, device))))
        throw new MarketServiceError(
          'UNKNOWN_DEVICE',
          `device "${device}" is not a device of site "${site}"`,
        );
      if (this.resources.get(r.id))
        throw new MarketServiceError('DUPLICATE_RESOURCE', `resource "${r.id}" is already registered`);
      this.resources.add(r);
      this.links.set(r.id, { site, device });
      this.#linksBySite = undefined;
      const stored = { ...r, ...(site ? { site } : {}), ...(device ? { device } : {}) };
      await this.store.saveResource(stored, this.now());
      // The interconnection record starts with the status it was registered in.
      await this.onboarding.saveCertification({
        id: `cert_${newId(8)}`,
        resource: r.id,
        status: r.status,
        previous: 'none',
        decidedAt: this.now(),
        decidedBy: c.userId,
        as: by,
      });
      await this.audit(c, 'market.resource.register', r.id, { as: by, resource: stored });
      return stored;
    });
  }

  /** Interconnection decisions: registered → certified, or suspended. */
  async setResourceStatus(
    c: MarketCaller,
    id: string,
    status: ResourceStatus,
    note?: string,
  ): Promise<StoredResource> {
    return this.guard(c, 'market.resource.status', id, { status }, async () => {
      const by = this.actingAs(c.userId, 'DGO');
      const before = this.resources.get(id);
      if (!before) throw new MarketRefusal(refuse('UNKNOWN_RESOURCE', `no resource "${id}"`));
      const r = this.resources.setStatus(id, status);
      const stored = { ...r, ...this.links.get(id) };
      await this.store.saveResource(stored, this.now());
      await this.onboarding.saveCertification({
        id: `cert_${newId(8)}`,
        resource: id,
        status,
        previous: before.status,
        decidedAt: this.now(),
        decidedBy: c.userId,
        as: by,
        ...(note ? { note } : {}),
      });
      await this.audit(c, 'market.resource.status', id, { as: by, status, previous: before.status });
      return stored;
    });
  }

  listResources(): StoredResource[] {
    return this.resources.all().map((r) => ({ ...r, ...this.links.get(r.id) }));
  }

  // --- participants: bids ---------------------------------------------------------------------

  #ctx() {
    return { config: this.config, registry: this.resources, now: this.now(), gates: this.gates };
  }

  async submitBid(
    c: MarketCaller,
    input: Omit<Bid, 'id' | 'participant'> & { id?: string; participant?: string },
  ): Promise<Bid> {
    return this.guard(c, 'market.bid.submit', input.id ?? null, { bid: input }, async () => {
      if (this.config.marketForm === 'p2p')
        throw new MarketRefusal(
          refuse(
            'WRONG_MARKET_FORM',
            `model ${this.config.model} trades peer to peer: use /market/p2p/orders`,
          ),
        );
      const participant = this.participant(c.userId, input.participant);
      const bid = this.book.submit({ ...input, id: input.id ?? `bid_${newId(8)}`, participant }, this.#ctx());
      await this.store.saveBid(bid, 'live', this.now());
      await this.audit(c, 'market.bid.submit', bid.id, { bid });
      return bid;
    });
  }

  #ownerFor(c: MarketCaller, id: string): string {
    const b = this.book.get(id);
    if (!b) throw new MarketRefusal(refuse('UNKNOWN_BID', `no bid "${id}"`));
    // Pass the bid's own participant only if the user acts for it; otherwise the book says NOT_YOURS.
    return this.actorsOf(c.userId).includes(b.participant) ? b.participant : `user:${c.userId}`;
  }

  async modifyBid(c: MarketCaller, id: string, steps: Step[]): Promise<Bid> {
    return this.guard(c, 'market.bid.modify', id, { steps }, async () => {
      const bid = this.book.modify(id, this.#ownerFor(c, id), steps, this.#ctx());
      await this.store.saveBid(bid, 'live', this.now());
      await this.audit(c, 'market.bid.modify', id, { steps });
      return bid;
    });
  }

  async cancelBid(c: MarketCaller, id: string): Promise<Bid> {
    return this.guard(c, 'market.bid.cancel', id, {}, async () => {
      const bid = this.book.cancel(id, this.#ownerFor(c, id), { now: this.now(), gates: this.gates });
      await this.store.saveBid(bid, 'cancelled', this.now());
      await this.audit(c, 'market.bid.cancel', id, {});
      return bid;
    });
  }

  /** A participant's own live bids; all of them for the DMO (`all`). */
  listBids(c: MarketCaller, q: { all?: boolean; market?: 'DA' | 'RT'; from?: number; to?: number }): Bid[] {
    if (q.all) this.actingAs(c.userId, 'DMO');
    const mine = new Set(this.actorsOf(c.userId));
    const filter = {
      ...(q.market ? { market: q.market } : {}),
      ...(q.from !== undefined ? { from: q.from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
    };
    return this.book.list(filter).filter((b) => q.all || mine.has(b.participant));
  }

  // --- DMO: clearing ----------------------------------------------------------------------------

  #requireNodal() {
    requireNodal(this.config);
  }

  requireGateClosed(market: 'DA' | 'RT', start: number) {
    const closes = gateClosure(market, start, this.gates);
    if (this.now() < closes)
      throw new MarketServiceError(
        'GATE_OPEN',
        `the ${market} gate for ${new Date(start).toISOString()} closes at ${new Date(closes).toISOString()}: bids may still change`,
      );
  }

  async runDayAhead(
    c: MarketCaller,
    q: { dayStart: number; forecastLmp?: number[]; loadForecastW?: Record<string, number[]> },
  ) {
    if (this.config.marketForm === 'wholesale') return runCentralizedDayAhead(this, c, q);
    return runNodalDayAhead(this, c, q);
  }

  async runRealTime(
    c: MarketCaller,
    q: {
      intervalStart: number;
      interfacePrice?: number;
      loadForecastW?: Record<string, number>;
      socWh?: Record<string, number>;
      availableW?: Record<string, number>;
      dispatch?: boolean;
      deadline?: number;
    },
  ) {
    if (this.config.marketForm === 'wholesale') return runCentralizedRealTime(this, c, q);
    return runNodalRealTime(this, c, q);
  }

  /** Metered settlement of a completed hour (5-minute periods) from telemetry: metered-run.ts. */
  async settleMetered(c: MarketCaller, q: { hourStart: number }) {
    // API and scheduler: one settlement of an hour at a time (hour-lock.ts says why).
    return this.#meteredLock.run(q.hourStart, () => this.#settleMetered(c, q));
  }

  async #settleMetered(c: MarketCaller, q: { hourStart: number }) {
    return this.guard(c, 'market.settle.metered', String(q.hourStart), q, async () => {
      const by = c.system === 'DMO' ? this.config.roles.DMO : this.actingAs(c.userId, 'DMO');
      this.#requireNodal();
      if (q.hourStart % HOUR_MS !== 0)
        throw new MarketRefusal(refuse('BAD_INTERVAL', 'metered settlement runs on whole UTC hours'));
      if (this.now() < q.hourStart + HOUR_MS)
        throw new MarketServiceError('NOT_METERED_YET', 'the hour is not over: meters are still running');
      if (!this.deps.timeseries)
        throw new MarketServiceError('NO_TELEMETRY', 'no time-series store to read meters from');
      const r = this.config.roles;
      const { ledger, lines, reports } = await meteredRun({
        hourStart: q.hourStart,
        store: this.store,
        timeseries: this.deps.timeseries,
        registry: this.deps.registry,
        resources: this.resources,
        links: this.links,
        iso: r.ISO,
        dgo: r.DGO,
        dmo: r.DMO,
        fees: this.deps.settings.fees,
      });
      const books = checkBooks(ledger);
      const summary = {
        balanced: books.every((b) => b.balanced),
        surplusCents: books.reduce((s, b) => s + b.surplusCents, 0),
        meters: reports,
      };
      const runId = `mt_${newId(8)}`;
      const run = {
        id: runId,
        market: 'MT' as const,
        intervalStart: q.hourStart,
        intervalEnd: q.hourStart + HOUR_MS,
      };
      await this.store.saveRun({ ...run, runAt: this.now(), runBy: by, summary }, [], [], ledger.entries);
      await this.audit(c, 'market.settle.metered', runId, {
        as: by,
        hourStart: q.hourStart,
        balanced: summary.balanced,
      });
      return { runId, ...summary, books, lines };
    });
  }

  // --- DGO -------------------------------------------------------------------------------------

  async screeningOutcomes(c: MarketCaller, q: { from?: number; to?: number }): Promise<DispatchRecord[]> {
    this.actingAs(c.userId, 'DGO');
    return this.store.dispatches(q);
  }

  /** DGO emergency dispatch: overrides market positions (also in P2P models, which have no DERM). */
  async emergencyDispatch(
    c: MarketCaller,
    q: { resource: string; w: number; ttlSeconds: number; reason: string },
  ) {
    return this.guard(c, 'market.dgo.emergency', q.resource, q, async () => {
      const by = this.actingAs(c.userId, 'DGO');
      const rule = checkMayDispatch(this.config, this.resources, q.resource, 'DGO_EMERGENCY');
      if (rule) throw new MarketRefusal(rule);
      const link = this.links.get(q.resource);
      if (!link?.site)
        throw new MarketServiceError('NOT_LINKED', `resource "${q.resource}" is not linked to a site`);
      if (!this.deps.send) throw new MarketServiceError('NO_PIPELINE', 'no command pipeline');
      const kind = this.resources.get(q.resource)!.kind;
      const type = kind === 'battery' ? 'battery_power' : 'active_power_limit';
      const cmd = await this.deps.send(
        link.site,
        {
          type,
          w: type === 'battery_power' ? q.w : Math.max(0, q.w),
          ttlSeconds: q.ttlSeconds,
          ...(link.device ? { device: link.device } : {}),
        },
        `market:DGO:${by}`,
      );
      // P2P: the emergency setpoint overrides the resource's trades while it holds.
      const overridden = await this.p2p?.override(c, q.resource, q.w, this.now(), q.ttlSeconds * 1000);
      await this.audit(c, 'market.dgo.emergency', q.resource, {
        as: by,
        ...q,
        command: cmd.id,
        ...(overridden ? { overriddenTrades: overridden.map((t) => t.id) } : {}),
      });
      return overridden ? { ...cmd, overriddenTrades: overridden } : cmd;
    });
  }

  // --- results -----------------------------------------------------------------------------------

  /**
   * Information separation (models 4 and 6, `separationRefusal`): an INFORMATION_SEPARATION refusal
   * when the caller's view (`market`: the DMO's full books; `network`: the grid's state) is the other
   * operator's.
   */
  requireView(userId: string, view: 'market' | 'network', what: string): void {
    const reason = separationRefusal(this.config, this.actorsOf(userId), view, what);
    if (reason) throw new MarketServiceError('INFORMATION_SEPARATION', reason);
  }

  /**
   * DGO: the schedule it screens, by bus and interval: the net injection (W, + = into the grid) of
   * the energy and ancillary awards per market and product, and of the P2P trades per delivery
   * interval (after screening), with the number of resources behind each figure; and the grid
   * services it buys itself, by resource. No bids, no prices, no participants.
   */
  async dgoSchedule(c: MarketCaller, q: { market?: RunMarket; from?: number; to?: number }) {
    this.actingAs(c.userId, 'DGO');
    type Row = { market: string; intervalStart: number; bus: string; product: string; injectionW: number };
    const rows = new Map<string, Row & { ids: Set<string> }>();
    const add = (r: Row, resource: string) => {
      const k = `${r.market}|${r.intervalStart}|${r.bus}|${r.product}`;
      const e = rows.get(k) ?? { ...r, injectionW: 0, ids: new Set<string>() };
      e.injectionW += r.injectionW;
      e.ids.add(resource);
      rows.set(k, e);
    };
    const services: {
      market: string;
      intervalStart: number;
      resource: string;
      bus: string;
      product: string;
      awardW: number;
    }[] = [];
    for (const a of await this.store.awards(q)) {
      if (a.market === 'P2P') continue; // from the trades below
      if (GRID_SERVICES.includes(a.product as never))
        services.push({
          market: a.market,
          intervalStart: a.intervalStart,
          resource: a.resource,
          bus: a.bus,
          product: a.product,
          awardW: a.awardW,
        });
      else
        add(
          {
            market: a.market,
            intervalStart: a.intervalStart,
            bus: a.bus,
            product: a.product,
            injectionW: a.awardW,
          },
          a.resource,
        );
    }
    if (this.p2p && (q.market === undefined || (q.market as string) === 'P2P')) {
      const perH = HOUR_MS / this.p2p.intervalMs;
      for (const t of this.p2p.networkTrades(q)) {
        const w = t.quantityWh * perH;
        add(
          {
            market: 'P2P',
            intervalStart: t.intervalStart,
            bus: t.sellerBus,
            product: 'energy',
            injectionW: w,
          },
          t.sellerResource,
        );
        add(
          {
            market: 'P2P',
            intervalStart: t.intervalStart,
            bus: t.buyerBus,
            product: 'energy',
            injectionW: -w,
          },
          t.buyerResource,
        );
      }
    }
    const injections = [...rows.values()]
      .map(({ ids, ...r }) => ({ ...r, resources: ids.size }))
      .sort(
        (x, y) =>
          x.intervalStart - y.intervalStart ||
          x.market.localeCompare(y.market) ||
          x.bus.localeCompare(y.bus) ||
          x.product.localeCompare(y.product),
      );
    return { injections, services };
  }

  /** Awards of the user's organizations; all awards for the DMO or the DGO (`all`: grid services are the DGO's). */
  async awards(c: MarketCaller, q: { all?: boolean; market?: RunMarket; from?: number; to?: number }) {
    if (q.all) {
      this.requireView(c.userId, 'market', 'the awards, their prices or who holds them');
      if (this.config.roles.DGO === undefined || !this.actorsOf(c.userId).includes(this.config.roles.DGO))
        this.actingAs(c.userId, 'DMO');
      return this.store.awards(q);
    }
    const out: AwardRecord[] = [];
    for (const a of this.actorsOf(c.userId)) out.push(...(await this.store.awards({ ...q, participant: a })));
    return out.sort((x, y) => x.intervalStart - y.intervalStart || x.resource.localeCompare(y.resource));
  }

  /** Published prices: public to every authenticated user. */
  prices(q: { market?: RunMarket; from?: number; to?: number; bus?: string }) {
    return this.store.prices(q);
  }

  /** Settlement lines and totals of the user's organizations (`all`: every account plus the books check, DMO only). */
  async settlements(c: MarketCaller, q: { all?: boolean; market?: RunMarket; from?: number; to?: number }) {
    const accounts = q.all ? null : this.actorsOf(c.userId);
    if (q.all) this.actingAs(c.userId, 'DMO');
    const entries: LedgerEntry[] = [];
    if (accounts === null) entries.push(...(await this.store.ledger(q)));
    else {
      const seen = new Set<string>();
      for (const a of accounts)
        for (const e of await this.store.ledger({ ...q, account: a })) {
          const k = JSON.stringify(e);
          if (!seen.has(k)) entries.push(e);
          seen.add(k);
        }
    }
    const l = new Ledger();
    l.entries.push(...entries);
    const totals = Object.fromEntries(
      [...totalsByAccount(l)]
        .filter(([a]) => accounts === null || accounts.includes(a))
        .map(([a, t]) => [a, t]),
    );
    return {
      entries,
      totals,
      ...(accounts === null
        ? { books: checkBooks(l), balanced: checkBooks(l).every((b) => b.balanced) }
        : {}),
    };
  }
}
