import type { Logger } from 'pino';
import {
  type Ack,
  ackSchema,
  type Capabilities,
  capabilitiesSchema,
  parsePayload,
  type Status,
  statusSchema,
  telemetryBatchSchema,
} from '../../protocols/mqtt/payloads.ts';
import { isPlainTelemetryBatch } from '../../protocols/mqtt/telemetry-fast.ts';
import type { TopicKind } from '../../protocols/mqtt/topics.ts';
import type { Metrics } from '../metrics.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { WriteBuffer, type WriteBufferOptions } from './buffer.ts';
import { BatchDedupe } from './dedupe.ts';

export type IngestResult = 'accepted' | 'rejected' | 'duplicate';

export interface IngestDeps {
  store: TimeSeriesStore;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  onAck: (site: string, ack: Ack) => Promise<void>;
  /** Called (not awaited) after a gateway's status is stored. */
  onStatus?: (site: string, status: Status) => Promise<unknown>;
}

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
 * command pipeline. Invalid messages are counted, logged with the reason and dropped; they never throw.
 */
export class Ingest {
  readonly buffer: WriteBuffer;
  private dedupe = new BatchDedupe();
  private rejectLogCount = new Map<string, number>();
  /** The per-message counters, looked up once (labels are hashed on every inc() otherwise). */
  private telemetryCount;

  constructor(
    private deps: IngestDeps,
    opts: WriteBufferOptions,
  ) {
    this.buffer = new WriteBuffer(deps.store, opts, deps.metrics, deps.log);
    const m = deps.metrics.messages;
    this.telemetryCount = {
      accepted: m.labels('telemetry', 'accepted'),
      duplicate: m.labels('telemetry', 'duplicate'),
    };
  }

  /**
   * Handles one uplink message for `site` (the site the topic and the gateway's login name).
   * With `durable`, resolves once telemetry is stored (so the broker can acknowledge after that);
   * otherwise once it is queued. Rejects only when ingest is shutting down or storage is gone.
   */
  async handle(site: string, kind: TopicKind, payload: Buffer, durable = true): Promise<IngestResult> {
    switch (kind) {
      case 'telemetry': {
        const r = this.parse(site, kind, telemetryBatchSchema, payload, isPlainTelemetryBatch);
        if (!r) return 'rejected';
        if (!this.dedupe.admit(r)) {
          this.telemetryCount.duplicate.inc();
          return 'duplicate';
        }
        // Not durable (external broker: acknowledged once queued): the acknowledgement still waits
        // while the buffer is full, so back-pressure reaches the broker instead of piling up here.
        if (!durable && this.buffer.full) await this.buffer.waitForSpace();
        let newest = 0;
        for (const s of r.samples) if (s.ts > newest) newest = s.ts;
        // The validated batch goes to storage as is: no per-point objects on the hot path.
        const written = this.buffer.enqueue(r, newest);
        written.catch(() => this.dedupe.forget(r));
        this.telemetryCount.accepted.inc();
        if (durable) await written;
        else written.catch(() => undefined);
        return 'accepted';
      }
      case 'status': {
        const r = this.parse<Status>(site, kind, statusSchema, payload);
        if (!r) return 'rejected';
        await this.deps.registry.applyStatus(r);
        this.deps
          .onStatus?.(site, r)
          .catch((err) => this.deps.log.error({ err, site }, 'status hook failed'));
        this.deps.metrics.messages.inc({ kind, result: 'accepted' });
        return 'accepted';
      }
      case 'capabilities': {
        const r = this.parse<Capabilities>(site, kind, capabilitiesSchema, payload);
        if (!r) return 'rejected';
        const { created, devices } = await this.deps.registry.applyCapabilities(r);
        await this.deps.registry.audit(
          `gateway:${site}`,
          created ? 'site.register' : 'site.capabilities',
          site,
          {
            devices: r.devices.map((d) => d.id),
          },
        );
        this.deps.log.info({ site, devices, created }, 'capabilities applied');
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

  private parse<T extends { site: string }>(
    site: string,
    kind: TopicKind,
    schema: Parameters<typeof parsePayload<T>>[0],
    payload: Buffer,
    fast?: (json: unknown) => json is T,
  ): T | undefined {
    const r = parsePayload(schema, payload, fast);
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
  }
}
