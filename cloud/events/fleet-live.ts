import type { Logger } from 'pino';
import type { Status, TelemetryBatch } from '../../protocols/mqtt/payloads.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { EventHub } from './hub.ts';

/** Site power as the fleet list shows it (W, the sign convention of protocols/canonical; % for SoC). */
export interface SitePower {
  pv_w: number | null;
  battery_w: number | null;
  soc_pct: number | null;
  grid_w: number | null;
}

interface SiteLive {
  /** device → its latest w / soc_pct and their sample time. */
  devices: Map<string, { w?: number; soc?: number; ts: number }>;
  lastSeen: number;
  state?: 'online' | 'offline';
  mode?: string;
  fallback?: boolean;
  stale?: boolean;
  dirty: boolean;
}

export interface FleetLiveOptions {
  /** An online site with no status or telemetry for this long is stale. */
  staleMs: number;
  /** Site events are coalesced: at most one per site per this period. */
  coalesceMs?: number;
  now?: () => number;
}

/**
 * The latest state of every site, in memory, from what ingest sees (telemetry, status): the fleet
 * list's power columns, the `site` live events (coalesced, at most one per site per second) and the
 * stale/offline/fallback alarm events. The newest telemetry time of each site is written to the
 * registry's last_seen in one transaction per period (never per message), so the SQL paging of the
 * fleet view knows which sites are stale.
 */
export class FleetLive {
  private sites = new Map<string, SiteLive>();
  /** site → device → kind (inverter, battery, meter), loaded once per site from the registry. */
  private kinds = new Map<string, Map<string, string> | Promise<void>>();
  private seen = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private readonly now: () => number;

  constructor(
    private deps: { registry: Registry; hub: EventHub; log: Pick<Logger, 'warn'> },
    private o: FleetLiveOptions,
  ) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    const coalesce = this.o.coalesceMs ?? 1000;
    this.timers.push(setInterval(() => this.emitDirty(), coalesce).unref());
    this.timers.push(
      setInterval(() => void this.flushSeen(), Math.min(15_000, Math.max(200, this.o.staleMs / 4))).unref(),
    );
    this.timers.push(
      setInterval(() => this.checkStale(), Math.min(5000, Math.max(100, this.o.staleMs / 4))).unref(),
    );
  }

  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.flushSeen();
  }

  /** Power of a site from its latest values (null where no device of that kind reported). */
  power(site: string): SitePower | null {
    const s = this.sites.get(site);
    const kinds = this.kinds.get(site);
    if (!s || !(kinds instanceof Map)) return null;
    const p: SitePower = { pv_w: null, battery_w: null, soc_pct: null, grid_w: null };
    let socN = 0;
    let soc = 0;
    const add = (k: 'pv_w' | 'battery_w' | 'grid_w', w: number | undefined) => {
      if (w !== undefined) p[k] = (p[k] ?? 0) + w;
    };
    for (const [device, v] of s.devices) {
      const kind = kinds.get(device);
      if (kind === 'inverter') add('pv_w', v.w);
      else if (kind === 'battery') {
        add('battery_w', v.w);
        if (v.soc !== undefined) {
          soc += v.soc;
          socN++;
        }
      } else if (kind === 'meter') add('grid_w', v.w);
    }
    if (socN) p.soc_pct = soc / socN;
    return p;
  }

  /** The latest power (W) and state of charge (%) a device of a site reported, with their sample time. */
  device(site: string, device: string): { w?: number; soc?: number; ts: number } | undefined {
    return this.sites.get(site)?.devices.get(device);
  }

  /** Ingest stored (queued) a telemetry batch of a site. */
  onTelemetry(site: string, batch: TelemetryBatch): void {
    if (!batch.samples.length) return;
    const s = this.site(site);
    for (const smp of batch.samples) {
      const d = s.devices.get(smp.device);
      if (d && d.ts > smp.ts) continue;
      const w = smp.values.w;
      const soc = smp.values.soc_pct;
      s.devices.set(smp.device, {
        ...(w !== undefined ? { w } : d?.w !== undefined ? { w: d.w } : {}),
        ...(soc !== undefined ? { soc } : d?.soc !== undefined ? { soc: d.soc } : {}),
        ts: smp.ts,
      });
      if (smp.ts > s.lastSeen) s.lastSeen = smp.ts;
    }
    // Received now: a replayed old batch must not make a connected site look stale.
    const seen = Math.max(s.lastSeen, this.now());
    this.seen.set(site, seen);
    s.lastSeen = seen;
    if (s.stale) this.setStale(site, s, false);
    if (!this.kinds.has(site)) this.loadKinds(site);
    s.dirty = true;
  }

  /** A site's capabilities changed: its devices' kinds are read again. */
  onCapabilities(site: string): void {
    this.kinds.delete(site);
    this.loadKinds(site);
  }

  onStatus(site: string, st: Status): void {
    const s = this.site(site);
    const wasOffline = s.state === 'offline';
    const fallback = st.state === 'online' ? !!st.lapsed?.length : s.fallback;
    if (st.state !== s.state) {
      if (st.state === 'offline') this.alarm(site, 'offline', true);
      else if (wasOffline) this.alarm(site, 'offline', false);
    }
    if (fallback !== s.fallback && (fallback || s.fallback !== undefined))
      this.alarm(site, 'fallback', !!fallback);
    s.state = st.state;
    s.mode = st.mode ?? s.mode;
    s.fallback = fallback;
    if (st.ts > s.lastSeen) s.lastSeen = st.ts;
    if (st.state === 'online' && s.stale) this.setStale(site, s, false);
    s.dirty = true;
  }

  /** A command to the site was acknowledged: it follows remote setpoints again. */
  onCommandAcknowledged(site: string): void {
    const s = this.sites.get(site);
    if (s?.fallback) {
      s.fallback = false;
      this.alarm(site, 'fallback', false);
      s.dirty = true;
    }
    this.deps.registry
      .setFallback(site, null)
      .catch((err) => this.deps.log.warn({ err, site }, 'fallback not cleared'));
  }

  /** The site event's payload. */
  snapshot(site: string): Record<string, unknown> {
    const s = this.sites.get(site);
    const status = !s
      ? 'offline'
      : s.state === 'offline'
        ? 'offline'
        : s.stale
          ? 'stale'
          : s.fallback
            ? 'fallback'
            : 'online';
    return {
      id: site,
      status,
      mode: s?.mode ?? null,
      lastSeen: s?.lastSeen ?? null,
      power: this.power(site),
    };
  }

  private alarm(site: string, kind: string, active: boolean) {
    this.deps.hub.publish({ name: 'alarm', site, data: { site, kind, active, at: this.now() } });
  }

  private setStale(site: string, s: SiteLive, stale: boolean) {
    s.stale = stale;
    this.alarm(site, 'stale', stale);
    s.dirty = true;
  }

  private checkStale() {
    const before = this.now() - this.o.staleMs;
    for (const [site, s] of this.sites)
      if (!s.stale && s.state !== 'offline' && s.lastSeen < before) this.setStale(site, s, true);
  }

  private emitDirty() {
    for (const [site, s] of this.sites) {
      if (!s.dirty) continue;
      s.dirty = false;
      this.deps.hub.publish({ name: 'site', site, data: this.snapshot(site) });
    }
  }

  private async flushSeen() {
    if (!this.seen.size) return;
    const batch = this.seen;
    this.seen = new Map();
    await this.deps.registry
      .touchSitesSeen(batch)
      .catch((err) => this.deps.log.warn({ err, sites: batch.size }, 'last_seen not written'));
  }

  private site(id: string): SiteLive {
    let s = this.sites.get(id);
    if (!s) {
      s = { devices: new Map(), lastSeen: 0, dirty: false };
      this.sites.set(id, s);
    }
    return s;
  }

  private loadKinds(site: string) {
    const p = this.deps.registry.listDevices(site).then(
      (devs) => {
        if (this.kinds.get(site) === p) this.kinds.set(site, new Map(devs.map((d) => [d.id, d.kind])));
      },
      (err) => {
        if (this.kinds.get(site) === p) this.kinds.delete(site);
        this.deps.log.warn({ err, site }, 'device kinds not loaded');
      },
    );
    this.kinds.set(site, p);
  }
}
