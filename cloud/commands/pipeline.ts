import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  type Ack,
  type Command,
  commandSchema,
  formatIssues,
  type Status,
} from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { newId } from '../auth/secrets.ts';
import type { ControlRules } from '../control-rules.ts';
import { DomainError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { CommandRecord, CommandStatus, Device, Registry } from '../storage/registry/registry.ts';

const ASSIGNED = { v: true, id: true, site: true, issuedAt: true, expiresAt: true } as const;
const ttl = { ttlSeconds: z.number().int().positive().optional() };

/** What a client posts: the wire command without the fields the cloud assigns, plus an optional TTL. */
export const commandRequestSchema = z.discriminatedUnion(
  'type',
  (commandSchema.options as readonly z.ZodObject[]).map((o) => o.omit(ASSIGNED).extend(ttl)) as unknown as [
    z.ZodObject,
    ...z.ZodObject[],
  ],
);

const newCommandId = () => `cmd_${newId(10)}`;

/** Acks written per transaction at most. */
const ACK_BATCH = 2000;

/** One command to issue (see CommandPipeline.issueMany). */
interface IssueItem {
  site: string;
  fields: Record<string, unknown>;
  /** The expiry, from the issue time. */
  expires: (issuedAt: number) => number;
  issuedBy: string;
  action: string;
  auditActor: string;
  detail?: Record<string, unknown>;
  id?: string;
}

/** Why a site's devices cannot take the command (undefined: some device can). */
function deviceRefusal(
  site: string,
  devices: readonly Device[],
  fields: { type: string; device?: string },
): CommandError | undefined {
  if (fields.device) {
    const d = devices.find((x) => x.id === fields.device);
    if (!d) return new CommandError('unprocessable', `site ${site} has no device ${fields.device}`);
    if (!d.controls.includes(fields.type))
      return new CommandError(
        'unprocessable',
        `device ${d.id} does not accept ${fields.type} (controls: ${d.controls.join(', ') || 'none'})`,
      );
  } else if (!devices.some((d) => d.controls.includes(fields.type))) {
    return new CommandError('unprocessable', `no device of site ${site} accepts ${fields.type}`);
  }
  return undefined;
}

/** A command the pipeline refuses (invalid, unknown site/device, not accepted by the device). */
export class CommandError extends DomainError {}

const ACK_STATUS: Record<Ack['status'], CommandStatus> = {
  applied: 'acknowledged',
  refused: 'refused',
  expired: 'expired',
};
export const TERMINAL_STATUSES: CommandStatus[] = ['acknowledged', 'refused', 'expired', 'failed', 'lapsed'];
/** Commands that may still be in force at the site, and so can lapse there. */
const FOLLOWABLE: CommandStatus[] = ['pending', 'sent', 'acknowledged'];

export interface CommandPipelineDeps {
  registry: Registry;
  publish: (topic: string, payload: string) => Promise<void>;
  metrics: Metrics;
  log: Logger;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  expiryCheckMs: number;
  /** Called after a command changed status (the live events of the operator app). */
  onStatusChange?: (c: { id: string; site: string; status: CommandStatus; reason?: string | null }) => void;
}

/**
 * Command lifecycle: validated → stored (pending) → published QoS 1 to the site's command topic (sent) →
 * acknowledged with the applied value / refused with a reason / expired. An acknowledged setpoint the
 * edge later drops before its expiry (uplink lost too long, agent restarted: it reports this in its
 * online status) becomes `lapsed`, and is re-asserted as a new command until the same expiry unless a
 * newer command replaced it or a dispatch loop renews it anyway; found out only after its expiry, it
 * becomes `expired` with the lapse as reason. Every step is audited. Everything lives in the registry:
 * after a cloud restart the expiry sweep runs at once and open commands go out again when their gateway
 * announces itself online.
 */
export class CommandPipeline {
  private events = new EventEmitter();
  private timer: NodeJS.Timeout | undefined;
  private rules: ControlRules | undefined;

  constructor(private deps: CommandPipelineDeps) {
    this.events.setMaxListeners(0);
  }

  start() {
    // Commands that expired while the cloud was down are closed now, not one check period later.
    this.expireOverdue().catch((err) => this.deps.log.error({ err }, 'command expiry check failed'));
    this.timer = setInterval(() => {
      this.expireOverdue().catch((err) => this.deps.log.error({ err }, 'command expiry check failed'));
    }, this.deps.expiryCheckMs);
    this.timer.unref();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * The rules every control path checks (cloud/control-rules.ts: the market's, given when it opens):
   * each command is asked about before it is stored; a refused one is never issued.
   */
  useRules(rules: ControlRules | undefined) {
    this.rules = rules;
  }

  async send(site: string, request: unknown, actor: string): Promise<CommandRecord> {
    const [r] = await this.sendMany([{ site, request }], actor);
    if (r instanceof Error) throw r;
    return r;
  }

  /**
   * Validates and issues many commands at once (a dispatch step): sites and devices are looked up in
   * bulk, and every accepted command is stored with its audit row in one transaction before any is
   * published. The result is per order, in order: the record, or the CommandError that refused it.
   */
  async sendMany(
    orders: readonly { site: string; request: unknown }[],
    actor: string,
    /** The user a dispatch acts for (its requester), for the control rules. */
    onBehalfOf?: string,
  ): Promise<(CommandRecord | CommandError | Error)[]> {
    const out: (CommandRecord | CommandError | Error)[] = new Array(orders.length);
    const valid: { i: number; site: string; ttl: number; fields: { type: string; device?: string } }[] = [];
    orders.forEach(({ site, request }, i) => {
      const req = commandRequestSchema.safeParse(request);
      if (!req.success) {
        out[i] = new CommandError('invalid', `invalid command: ${formatIssues(req.error)}`);
        return;
      }
      const { ttlSeconds, ...fields } = req.data as { ttlSeconds?: number; type: string; device?: string };
      const ttl = ttlSeconds ?? this.deps.defaultTtlSeconds;
      if (ttl > this.deps.maxTtlSeconds)
        out[i] = new CommandError(
          'invalid',
          `ttlSeconds ${ttl} exceeds the maximum ${this.deps.maxTtlSeconds}`,
        );
      else valid.push({ i, site, ttl, fields });
    });
    if (!valid.length) return out;
    const { registry } = this.deps;
    const sites = [...new Set(valid.map((v) => v.site))];
    const unknown = new Set(await registry.unknownSites(sites));
    const devicesOf = await registry.listDevicesOf(sites.filter((s) => !unknown.has(s)));
    const items: (IssueItem & { i: number })[] = [];
    for (const { i, site, ttl, fields } of valid) {
      const refused = unknown.has(site)
        ? new CommandError('not_found', `unknown site ${site}`)
        : (deviceRefusal(site, devicesOf.get(site) ?? [], fields) ??
          this.rules?.({ site, device: fields.device, type: fields.type, actor, onBehalfOf }) ??
          undefined);
      if (refused) out[i] = refused;
      else
        items.push({
          i,
          site,
          fields,
          expires: (now) => now + ttl * 1000,
          issuedBy: actor,
          action: 'command.send',
          auditActor: actor,
        });
    }
    const issued = await this.issueMany(items);
    items.forEach((it, k) => {
      out[it.i] = issued[k];
    });
    return out;
  }

  /**
   * Stores, audits and publishes new commands (ids and issue time assigned here). Durability order:
   * all of them (and their audit rows) are committed in one transaction, and only then published; the
   * move to `sent` of those the broker took is one more statement. A record's status is as of its
   * publish (an ack may already have moved it on: the registry has the truth).
   */
  private async issueMany(items: readonly IssueItem[]): Promise<(CommandRecord | CommandError)[]> {
    const { registry, metrics } = this.deps;
    const out: (CommandRecord | CommandError)[] = new Array(items.length);
    const issuedAt = Date.now();
    const ok: { k: number; cmd: Command; item: IssueItem }[] = [];
    items.forEach((item, k) => {
      const wire = commandSchema.safeParse({
        ...item.fields,
        v: 1,
        id: item.id ?? newCommandId(),
        site: item.site,
        issuedAt,
        expiresAt: item.expires(issuedAt),
      });
      if (!wire.success) out[k] = new CommandError('invalid', `invalid command: ${formatIssues(wire.error)}`);
      else ok.push({ k, cmd: wire.data, item });
    });
    if (!ok.length) return out;
    const recs = await registry.insertCommands(
      ok.map(({ cmd, item }) => ({ command: cmd, issuedBy: item.issuedBy })),
      ok.map(({ cmd, item }) => ({
        actor: item.auditActor,
        action: item.action,
        target: item.site,
        detail: { ...item.detail, command: cmd },
      })),
    );
    metrics.commands.inc({ status: 'pending' }, ok.length);
    const published = await Promise.allSettled(
      ok.map(({ cmd }) => this.deps.publish(siteTopic(cmd.site, 'commands'), JSON.stringify(cmd))),
    );
    const sentAt = Date.now();
    const sent = ok.filter((_, j) => published[j].status === 'fulfilled').map(({ cmd }) => cmd.id);
    if (sent.length) {
      const n = await registry.transitionCommands(sent, ['pending'], 'sent', sentAt);
      if (n) metrics.commands.inc({ status: 'sent' }, n);
    }
    if (this.deps.onStatusChange) {
      const isSent = new Set(sent);
      for (const { cmd } of ok)
        if (isSent.has(cmd.id)) this.deps.onStatusChange({ id: cmd.id, site: cmd.site, status: 'sent' });
    }
    for (let j = 0; j < ok.length; j++) {
      const p = published[j];
      const { k, cmd } = ok[j];
      if (p.status === 'fulfilled') {
        out[k] = { ...recs[j], status: 'sent', statusAt: sentAt };
        continue;
      }
      await this.transition(
        cmd.id,
        ['pending'],
        'failed',
        { reason: `publish failed: ${(p.reason as Error).message}` },
        'system',
      );
      out[k] = (await registry.getCommand(cmd.id)) ?? recs[j];
    }
    return out;
  }

  /**
   * A gateway announced itself online (every connect, and on mode changes): re-publish its commands
   * that are still open. The embedded broker keeps offline sessions only in memory, so a command queued
   * for an offline gateway is otherwise lost when the cloud restarts. The edge answers a command id it
   * has already seen with the same ack, so a copy that the broker also delivered does no harm. A command
   * replaced by a newer one of the same type for the same device is not sent again (even once the newer
   * one is closed): applied late, it would undo its successor.
   */
  async onStatus(site: string, status: Status): Promise<number> {
    if (status.state !== 'online') return 0;
    // Taken before the lapses are handled: a re-assertion is published by reconcile itself, and a
    // command the edge reports lapsed is not sent again under its old id.
    const lapsed = new Set(status.lapsed?.map((l) => l.commandId));
    const resend = (await this.deps.registry.resendableCommands(site, Date.now())).filter(
      (c) => !lapsed.has(c.id),
    );
    if (status.lapsed?.length) await this.reconcile(site, status.lapsed);
    for (const c of resend) {
      try {
        await this.deps.publish(siteTopic(site, 'commands'), JSON.stringify(c.command));
      } catch (err) {
        this.deps.log.warn({ id: c.id, site, err: (err as Error).message }, 'command re-send failed');
        continue;
      }
      // Stuck in pending (its first publish never completed): now it is out.
      if (c.status === 'pending') await this.transition(c.id, ['pending'], 'sent', {}, null);
      this.deps.metrics.commands.inc({ status: 'resent' });
      await this.deps.registry.audit('system', 'command.resent', site, { id: c.id });
    }
    if (resend.length)
      this.deps.log.info({ site, commands: resend.map((c) => c.id) }, 'open commands re-sent');
    return resend.length;
  }

  /**
   * The edge reports setpoints it dropped before their expiry. Each such command is closed as
   * `lapsed` and, when still wanted and not yet past its expiry, re-asserted:
   * a new command with the same fields, a fresh id and issue time, and the original expiry. Idempotent:
   * the edge repeats its lapses in every online status, and only a command still in force moves.
   */
  private async reconcile(site: string, lapses: NonNullable<Status['lapsed']>): Promise<void> {
    const { registry } = this.deps;
    for (const l of lapses) {
      const rec = await registry.getCommand(l.commandId);
      const now = Date.now();
      // Our own expiry sweep ("no acknowledgement before expiry") is superseded, as by a late ack: the
      // edge only reports a lapse for a setpoint its devices took.
      const from = rec && rec.expiresAt <= now ? [...FOLLOWABLE, 'expired' as const] : FOLLOWABLE;
      if (!rec || rec.siteId !== site || !from.includes(rec.status)) continue;
      const when = new Date(l.at).toISOString();
      if (rec.expiresAt <= now) {
        // Still `lapsed`, not `expired`: the device did take it and dropped it early; `expired` would
        // tell the operator it was never applied.
        await this.transition(
          rec.id,
          from,
          'lapsed',
          { reason: `lapsed at the site at ${when} (${l.reason}); expired before it could be re-asserted` },
          `gateway:${site}`,
        );
        continue;
      }
      // A dispatch renews its own setpoints every loop; a replaced one must not come back.
      const byDispatch = rec.issuedBy.startsWith('dispatch:');
      const replaced = await registry.hasNewerCommand(rec);
      const why = byDispatch ? 'its dispatch renews it' : replaced ? 'a newer command replaced it' : '';
      const nextId = newCommandId();
      const what = why ? `not re-asserted: ${why}` : `re-asserted as ${nextId}`;
      const reason = `lapsed at the site at ${when} (${l.reason}); ${what}`;
      // The transition claims the lapse: of concurrent statuses repeating it, one re-asserts.
      if (!(await this.transition(rec.id, FOLLOWABLE, 'lapsed', { reason }, `gateway:${site}`))) continue;
      this.deps.log.warn({ id: rec.id, site, lapse: l }, 'setpoint lapsed at the site');
      if (why) continue;
      const { v: _v, id: _id, site: _s, issuedAt: _i, expiresAt: _e, ...fields } = rec.command;
      const [r] = await this.issueMany([
        {
          site,
          fields,
          expires: () => rec.expiresAt,
          issuedBy: rec.issuedBy,
          action: 'command.reasserted',
          auditActor: 'system',
          detail: { of: rec.id },
          id: nextId,
        },
      ]);
      if (r instanceof CommandError) throw r;
    }
  }

  private acks: { site: string; ack: Ack; done: (err?: Error) => void }[] = [];
  private acksScheduled = false;

  /**
   * An ack from a gateway (already schema-validated; `site` is the gateway's own site). Resolves once
   * the new status and its audit row are committed. Acks arriving together (a fleet answering a
   * dispatch step) are written together: one lookup and one transaction per batch.
   */
  onAck(site: string, ack: Ack): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.acks.push({ site, ack, done: (err) => (err ? reject(err) : resolve()) });
      this.scheduleAcks();
    });
  }

  private scheduleAcks() {
    if (this.acksScheduled || !this.acks.length) return;
    this.acksScheduled = true;
    setImmediate(() => {
      const batch = this.acks.splice(0, ACK_BATCH);
      this.applyAcks(batch)
        .catch((err: Error) => {
          for (const b of batch) b.done(err);
        })
        .finally(() => {
          this.acksScheduled = false;
          this.scheduleAcks();
        });
    });
  }

  private async applyAcks(batch: { site: string; ack: Ack; done: (err?: Error) => void }[]): Promise<void> {
    const { registry } = this.deps;
    const recs = await registry.getCommands(batch.map((b) => b.ack.commandId));
    const known: { b: (typeof batch)[number]; rec: CommandRecord }[] = [];
    for (const b of batch) {
      const rec = recs.get(b.ack.commandId);
      if (!rec || rec.siteId !== b.site)
        b.done(new Error(`unknown command ${b.ack.commandId} for site ${b.site}`));
      else known.push({ b, rec });
    }
    const moved = new Set<(typeof known)[number]>();
    await registry.tx(async (db) => {
      for (const k of known) {
        const { ack } = k.b;
        // A late ack supersedes our own expiry: the edge knows what it actually applied.
        const ok = await registry.transitionCommand(
          k.rec.id,
          ['pending', 'sent', 'expired'],
          ACK_STATUS[ack.status],
          { applied: ack.applied ?? null, reason: ack.reason ?? null, at: ack.ts },
          db,
        );
        if (ok) moved.add(k);
      }
      await registry.auditMany(
        [...moved].map(({ b, rec }) => ({
          actor: `gateway:${b.site}`,
          action: `command.${ACK_STATUS[b.ack.status]}`,
          target: rec.siteId,
          detail: { id: rec.id, applied: b.ack.applied ?? undefined, reason: b.ack.reason ?? undefined },
        })),
        db,
      );
    });
    for (const k of known) {
      if (moved.has(k)) {
        this.deps.metrics.commands.inc({ status: ACK_STATUS[k.b.ack.status] });
        this.deps.onStatusChange?.({
          id: k.rec.id,
          site: k.rec.siteId,
          status: ACK_STATUS[k.b.ack.status],
          reason: k.b.ack.reason ?? null,
        });
        this.events.emit(k.rec.id);
      } else
        this.deps.log.info(
          { id: k.rec.id, status: k.rec.status },
          'ack for a command already closed; ignored',
        );
      k.b.done();
    }
  }

  async expireOverdue(now = Date.now()): Promise<number> {
    let n = 0;
    for (const c of await this.deps.registry.overdueCommands(now)) {
      if (
        await this.transition(
          c.id,
          ['pending', 'sent'],
          'expired',
          { reason: 'no acknowledgement before expiry' },
          'system',
        )
      )
        n++;
    }
    return n;
  }

  /** Resolves with the command once it reaches a terminal status, or as it is after `timeoutMs`. */
  async waitFor(id: string, timeoutMs: number): Promise<CommandRecord | undefined> {
    const now = await this.deps.registry.getCommand(id);
    if (!now || TERMINAL_STATUSES.includes(now.status) || timeoutMs <= 0) return now;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.events.off(id, done);
        resolve();
      };
      const t = setTimeout(done, timeoutMs);
      this.events.on(id, done);
    });
    return this.deps.registry.getCommand(id);
  }

  private async transition(
    id: string,
    from: CommandStatus[],
    status: CommandStatus,
    fields: { applied?: Record<string, number | boolean> | null; reason?: string | null; at?: number },
    actor: string | null,
  ): Promise<boolean> {
    const ok = await this.deps.registry.transitionCommand(id, from, status, fields);
    if (!ok) return false;
    this.deps.metrics.commands.inc({ status });
    const rec = await this.deps.registry.getCommand(id);
    if (rec) this.deps.onStatusChange?.({ id, site: rec.siteId, status, reason: rec.reason });
    if (actor && rec) {
      await this.deps.registry.audit(actor, `command.${status}`, rec.siteId, {
        id,
        applied: fields.applied ?? undefined,
        reason: fields.reason ?? undefined,
      });
    }
    if (TERMINAL_STATUSES.includes(status)) this.events.emit(id);
    return true;
  }
}
