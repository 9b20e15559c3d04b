import type { Logger } from 'pino';
import { nameplatePowerW } from '../../protocols/canonical/plausibility.ts';
import {
  type Ack,
  ackSchema,
  type Capabilities,
  capabilitiesSchema,
  MAX_PAYLOAD_BYTES,
  parsePayload,
  SCHEMA_VERSION,
  type SchemaAnnouncement,
  type Status,
  SUPPORTED_SCHEMA_VERSIONS,
  statusSchema,
  type TelemetryBatch,
} from '../../protocols/mqtt/payloads.ts';
import { siteTopic, type TopicKind } from '../../protocols/mqtt/topics.ts';
import type { Metrics } from '../metrics.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { WriteBuffer, type WriteBufferOptions } from './buffer.ts';
import { BatchDedupe } from './dedupe.ts';
import { QuarantineBudget } from './quarantine-budget.ts';
import { screenTelemetry } from './screen.ts';

/** Default clock-skew allowance: samples dated more than this after the cloud's clock are refused. */
export const DEFAULT_MAX_FUTURE_MS = 5 * 60_000;
/** How long a site's device nameplates are cached for the plausibility check. */
const NAMEPLATE_TTL_MS = 5 * 60_000;

type IngestQuarantine = ReturnType<typeof screenTelemetry>['quarantine'];

/** quarantined: a telemetry message none of whose values could be stored (all kept in quarantine). */
export type IngestResult = 'accepted' | 'rejected' | 'duplicate' | 'quarantined';

export interface IngestDeps {
  store: TimeSeriesStore;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  onAck: (site: string, ack: Ack) => Promise<void>;
  /** Called (not awaited) after a gateway's status is stored. */
  onStatus?: (site: string, status: Status) => Promise<unknown>;
  /** Called (not awaited) with what of a telemetry message is stored (the live fleet view). */
  onTelemetry?: (site: string, batch: TelemetryBatch) => void;
  /** Called after a site's capabilities changed. */
  onCapabilities?: (site: string) => void;
  /** Publishes to a gateway (the schema announcement); absent: none is sent. */
  publish?: (topic: string, payload: string) => Promise<void>;
}

export interface IngestOptions extends WriteBufferOptions {
  /** Clock-skew allowance for sample timestamps, ms (default DEFAULT_MAX_FUTURE_MS). */
  maxFutureMs?: number;
  /** Quarantine rows kept per site and window (default DEFAULT_QUARANTINE_MAX_PER_SITE); the rest are counted. */
  quarantineMaxPerSite?: number;
  quarantineWindowSeconds?: number;
}

/** Defaults of the per-site quarantine budget: 10,000 rows per site per hour. */
export const DEFAULT_QUARANTINE_MAX_PER_SITE = 10_000;
export const DEFAULT_QUARANTINE_WINDOW_SECONDS = 3600;

/** Reason classes for the rejects metric (the log line keeps the full reason). */
function reasonClass(error: string): string {
  if (error.startsWith('payload too large')) return 'too_large';
  if (error.startsWith('not JSON')) return 'not_json';
  if (error.startsWith('unsupported schema version')) return 'version';
  if (error.startsWith('site mismatch')) return 'site_mismatch';
  if (error.startsWith('unknown command')) return 'unknown_command';
  return 'schema';
}

/**
 * Everything a gateway publishes comes through here: validated against the protocols/ schemas, then
 * telemetry goes to the time-series store (batched), status/capabilities to the registry, acks to the
 * command pipeline. Never throws on bad input.
 *
 * Telemetry is screened value by value (screen.ts): what is valid is stored, everything else (unknown
 * points from a newer edge, samples from the future, implausible values, unreadable messages) goes to
 * the store's quarantine with its reason, in the same write. So the broker's acknowledgement, which
 * waits for that write, always means "stored or quarantined", never "dropped". Invalid status,
 * capabilities and acks are counted, logged with the reason and dropped (they are state, resent).
 */
export class Ingest {
  readonly buffer: WriteBuffer;
  private dedupe = new BatchDedupe();
  private rejectLogCount = new Map<string, number>();
  /** The per-message counters, looked up once (labels are hashed on every inc() otherwise). */
  private telemetryCount;
  private maxFutureMs: number;
  private quarantineBudget: QuarantineBudget;
  /** Per site: device → nameplate active power (W), and when it was loaded. */
  private nameplates = new Map<string, { at: number; w: Map<string, number | undefined> }>();

  constructor(
    private deps: IngestDeps,
    opts: IngestOptions,
  ) {
    const { maxFutureMs, quarantineMaxPerSite, quarantineWindowSeconds, ...bufferOpts } = opts;
    this.maxFutureMs = maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
    this.quarantineBudget = new QuarantineBudget({
      maxPerSite: quarantineMaxPerSite ?? DEFAULT_QUARANTINE_MAX_PER_SITE,
      windowMs: (quarantineWindowSeconds ?? DEFAULT_QUARANTINE_WINDOW_SECONDS) * 1000,
      log: deps.log,
    });
    this.buffer = new WriteBuffer(deps.store, bufferOpts, deps.metrics, deps.log);
    const m = deps.metrics.messages;
    this.telemetryCount = {
      accepted: m.labels('telemetry', 'accepted'),
      duplicate: m.labels('telemetry', 'duplicate'),
    };
  }

  /**
   * Handles one uplink message for `site` (the site the topic and the gateway's login name).
   * With `durable`, resolves once telemetry is stored (so the broker can acknowledge after that);
   * otherwise once it is queued, and `stored` is handed the promise of the write (the external broker
   * acknowledges after it). Other kinds are stored when the promise resolves. Rejects only when ingest is shutting down or storage is gone.
   */
  async handle(
    site: string,
    kind: TopicKind,
    payload: Buffer,
    durable = true,
    stored?: (written: Promise<unknown>) => void,
  ): Promise<IngestResult> {
    switch (kind) {
      case 'telemetry': {
        const now = Date.now();
        const cached = this.nameplates.get(site);
        const np = cached && now - cached.at < NAMEPLATE_TTL_MS ? cached.w : await this.loadNameplates(site);
        const r = this.screen(site, payload, np, now);
        if (!r) return 'duplicate';
        const { batch, dedupeKey } = r;
        // Not durable (external broker: acknowledged once queued): the acknowledgement still waits
        // while the buffer is full, so back-pressure reaches the broker instead of piling up here.
        if (!durable && this.buffer.full) await this.buffer.waitForSpace();
        // The screened batch goes to storage as is: no per-point objects on the hot path.
        const written = this.buffer.enqueue(batch ?? { site, samples: [] }, r.newestTs, r.quarantine);
        if (dedupeKey) written.catch(() => this.dedupe.forget(site, dedupeKey));
        stored?.(written);
        if (durable) await written;
        else written.catch(() => undefined);
        return batch?.samples.length ? 'accepted' : 'quarantined';
      }
      case 'status': {
        const r = this.parse<Status>(site, kind, statusSchema, payload, undefined, true);
        if (!r) return 'rejected';
        await this.deps.registry.applyStatus(r);
        // A gateway coming online (subscribed by then) learns which payload versions we read.
        if (r.state === 'online') this.announceSchema(site);
        this.deps
          .onStatus?.(site, r)
          .catch((err) => this.deps.log.error({ err, site }, 'status hook failed'));
        this.deps.metrics.messages.inc({ kind, result: 'accepted' });
        return 'accepted';
      }
      case 'capabilities': {
        const r = this.parse<Capabilities>(site, kind, capabilitiesSchema, payload, undefined, true);
        if (!r) return 'rejected';
        const { created, devices, changedDevices, limitsChanged } =
          await this.deps.registry.applyCapabilities(r);
        const changed = created || changedDevices.length > 0 || limitsChanged;
        this.nameplates.set(site, {
          at: Date.now(),
          w: new Map(r.devices.map((d) => [d.id, nameplatePowerW(d.nameplate)])),
        });
        if (changed) this.deps.onCapabilities?.(site);
        // Gateways republish capabilities on every connect: only a change is worth an audit row.
        if (changed)
          await this.deps.registry.audit(
            `gateway:${site}`,
            created ? 'site.register' : 'site.capabilities',
            site,
            {
              devices: r.devices.map((d) => d.id),
              ...(!created && { changed: changedDevices, ...(limitsChanged && { limits: true }) }),
            },
          );
        this.deps.log[changed ? 'info' : 'debug'](
          { site, devices, created, changed: changedDevices },
          'capabilities applied',
        );
        this.deps.metrics.messages.inc({ kind, result: 'accepted' });
        return 'accepted';
      }
      case 'acks': {
        const r = this.parse<Ack>(site, kind, ackSchema, payload);
        if (!r) return 'rejected';
        try {
          await this.deps.onAck(site, r);
        } catch (err) {
          this.reject(site, kind, (err as Error).message);
          return 'rejected';
        }
        this.deps.metrics.messages.inc({ kind, result: 'accepted' });
        return 'accepted';
      }
      default:
        this.reject(site, kind, `schema: ${kind} is not an uplink topic`);
        return 'rejected';
    }
  }

  /**
   * handle() for the embedded broker, durable, without a promise per message: `done` is called once
   * the message is stored (telemetry) or handled (other kinds), with an error when ingest is shutting
   * down or storage is gone. A telemetry message whose site's nameplates are not cached, or that
   * arrives while the buffer is full, takes handle()'s path (which waits).
   */
  handleNow(site: string, kind: TopicKind, payload: Buffer, done: (err?: Error) => void): void {
    const now = Date.now();
    const cached = kind === 'telemetry' ? this.nameplates.get(site) : undefined;
    if (!cached || now - cached.at >= NAMEPLATE_TTL_MS || this.buffer.full) {
      this.handle(site, kind, payload).then(() => done(), done);
      return;
    }
    const r = this.screen(site, payload, cached.w, now);
    if (!r) {
      done();
      return;
    }
    const key = r.dedupeKey;
    this.buffer.add(r.batch ?? { site, samples: [] }, r.newestTs, r.quarantine, (err) => {
      if (err && key) this.dedupe.forget(site, key);
      done(err);
    });
  }

  /**
   * One JSON parse and the value-by-value screen of a telemetry message; counts it. Undefined for a
   * redelivery (counted as duplicate).
   */
  private screen(site: string, payload: Buffer, np: Map<string, number | undefined>, now: number) {
    let json: unknown;
    let jsonError: string | undefined;
    if (payload.length <= MAX_PAYLOAD_BYTES)
      try {
        json = JSON.parse(payload.toString());
      } catch (err) {
        jsonError = (err as Error).message;
      }
    const r = screenTelemetry(payload, json, jsonError, {
      site,
      receivedMs: now,
      maxFutureMs: this.maxFutureMs,
      nameplateW: (d) => np.get(d),
    });
    if (r.dedupeKey && !this.dedupe.admit(site, r.dedupeKey)) {
      this.telemetryCount.duplicate.inc();
      return undefined;
    }
    this.countQuarantine(site, r.counts, r.quarantine[0]?.detail);
    if (r.batch?.samples.length) {
      this.telemetryCount.accepted.inc();
      // The live fleet view (latest power per site) sees what was accepted, on both ingest paths.
      this.deps.onTelemetry?.(site, r.batch);
    } else this.deps.metrics.messages.inc({ kind: 'telemetry', result: 'quarantined' });
    // Past the site's quarantine budget the refused values are acknowledged and counted, not kept.
    return {
      batch: r.batch,
      newestTs: r.newestTs,
      dedupeKey: r.dedupeKey,
      quarantine: this.budgeted(site, r.quarantine),
    };
  }

  private parse<T extends { site: string }>(
    site: string,
    kind: TopicKind,
    schema: Parameters<typeof parsePayload<T>>[0],
    payload: Buffer,
    fast?: (json: unknown) => json is T,
    newerAsCurrent = false,
  ): T | undefined {
    const r = parsePayload(schema, payload, fast, { newerAsCurrent });
    if (!r.ok) {
      this.reject(site, kind, r.error);
      return undefined;
    }
    if (r.value.site !== site) {
      this.reject(site, kind, `site mismatch: payload says ${r.value.site}, topic/login says ${site}`);
      return undefined;
    }
    return r.value;
  }

  private async loadNameplates(site: string): Promise<Map<string, number | undefined>> {
    const w = new Map<string, number | undefined>();
    try {
      for (const d of await this.deps.registry.listDevices(site)) w.set(d.id, nameplatePowerW(d.nameplate));
    } catch (err) {
      // Without nameplates only the fleet-wide ranges apply; try again on the next batch.
      this.deps.log.warn({ err, site }, 'nameplates not loaded');
      return w;
    }
    this.nameplates.set(site, { at: Date.now(), w });
    return w;
  }

  private budgeted(site: string, rows: IngestQuarantine): IngestQuarantine {
    if (!rows.length) return rows;
    const { keep, notKept } = this.quarantineBudget.take(
      site,
      rows.map((q) => q.reason),
    );
    for (const [reason, n] of notKept) this.deps.metrics.quarantineNotKept.inc({ reason }, n);
    return keep === rows.length ? rows : rows.slice(0, keep);
  }

  private countQuarantine(site: string, counts: Partial<Record<string, number>>, detail?: string) {
    let total = 0;
    for (const [reason, n] of Object.entries(counts)) {
      if (!n) continue;
      this.deps.metrics.quarantined.inc({ reason }, n);
      total += n;
    }
    if (!total) return;
    const n = (this.rejectLogCount.get(site) ?? 0) + 1;
    this.rejectLogCount.set(site, n);
    if (n <= 5 || n % 100 === 0)
      this.deps.log.warn({ site, values: total, reasons: counts, detail, count: n }, 'telemetry quarantined');
  }

  /** Tells a gateway which payload versions this cloud reads (see payloads.ts on negotiation). */
  private announceSchema(site: string) {
    if (!this.deps.publish) return;
    const a: SchemaAnnouncement = {
      v: SCHEMA_VERSION,
      site,
      speaks: [...SUPPORTED_SCHEMA_VERSIONS],
      ts: Date.now(),
    };
    this.deps
      .publish(siteTopic(site, 'schema'), JSON.stringify(a))
      .catch((err) => this.deps.log.warn({ err, site }, 'schema announcement not sent'));
  }

  private reject(site: string, kind: string, error: string) {
    const reason = reasonClass(error);
    this.deps.metrics.messages.inc({ kind, result: 'rejected' });
    this.deps.metrics.rejects.inc({ reason });
    // A gateway stuck sending bad data must not flood the log: first 5 per site, then every 100th.
    const n = (this.rejectLogCount.get(site) ?? 0) + 1;
    this.rejectLogCount.set(site, n);
    if (n <= 5 || n % 100 === 0)
      this.deps.log.warn({ site, kind, reason, error, count: n }, 'message rejected');
  }

  async close(): Promise<void> {
    await this.buffer.close();
    this.quarantineBudget.close();
  }
}
