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
import { DomainError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { CommandRecord, CommandStatus, Registry } from '../storage/registry/registry.ts';

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

  async send(site: string, request: unknown, actor: string): Promise<CommandRecord> {
    const req = commandRequestSchema.safeParse(request);
    if (!req.success) throw new CommandError('invalid', `invalid command: ${formatIssues(req.error)}`);
    const { ttlSeconds, ...fields } = req.data as { ttlSeconds?: number; type: string; device?: string };
    const ttl = ttlSeconds ?? this.deps.defaultTtlSeconds;
    if (ttl > this.deps.maxTtlSeconds)
      throw new CommandError('invalid', `ttlSeconds ${ttl} exceeds the maximum ${this.deps.maxTtlSeconds}`);
    const { registry } = this.deps;
    if (!(await registry.getSite(site))) throw new CommandError('not_found', `unknown site ${site}`);
    const devices = await registry.listDevices(site);
    if (fields.device) {
      const d = devices.find((x) => x.id === fields.device);
      if (!d) throw new CommandError('unprocessable', `site ${site} has no device ${fields.device}`);
      if (!d.controls.includes(fields.type))
        throw new CommandError(
          'unprocessable',
          `device ${d.id} does not accept ${fields.type} (controls: ${d.controls.join(', ') || 'none'})`,
        );
    } else if (!devices.some((d) => d.controls.includes(fields.type))) {
      throw new CommandError('unprocessable', `no device of site ${site} accepts ${fields.type}`);
    }
    return this.issue(site, fields, (now) => now + ttl * 1000, actor, 'command.send', actor);
  }

  /** Stores, audits and publishes one new command (id and issue time assigned here). */
  private async issue(
    site: string,
    fields: Record<string, unknown>,
    /** The expiry, from the issue time. */
    expires: (issuedAt: number) => number,
    issuedBy: string,
    action: string,
    auditActor: string,
    detail: Record<string, unknown> = {},
    id = newCommandId(),
  ): Promise<CommandRecord> {
    const { registry } = this.deps;
    const issuedAt = Date.now();
    const wire = commandSchema.safeParse({
      ...fields,
      v: 1,
      id,
      site,
      issuedAt,
      expiresAt: expires(issuedAt),
    });
    if (!wire.success) throw new CommandError('invalid', `invalid command: ${formatIssues(wire.error)}`);
    const cmd: Command = wire.data;
    const rec = await registry.insertCommand(cmd, issuedBy);
    await registry.audit(auditActor, action, site, { ...detail, command: cmd });
    this.deps.metrics.commands.inc({ status: 'pending' });
    try {
      await this.deps.publish(siteTopic(site, 'commands'), JSON.stringify(cmd));
    } catch (err) {
      await this.transition(
        cmd.id,
        ['pending'],
        'failed',
        { reason: `publish failed: ${(err as Error).message}` },
        'system',
      );
      return (await registry.getCommand(cmd.id)) as CommandRecord;
    }
    await this.transition(cmd.id, ['pending'], 'sent', {}, null);
    return (await registry.getCommand(cmd.id)) ?? rec;
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
   * `lapsed` (or `expired`, when its expiry has passed meanwhile) and, when still wanted, re-asserted:
   * a new command with the same fields, a fresh id and issue time, and the original expiry. Idempotent:
   * the edge repeats its lapses in every online status, and only a command still in force moves.
   */
  private async reconcile(site: string, lapses: NonNullable<Status['lapsed']>): Promise<void> {
    const { registry } = this.deps;
    for (const l of lapses) {
      const rec = await registry.getCommand(l.commandId);
      if (!rec || rec.siteId !== site || !FOLLOWABLE.includes(rec.status)) continue;
      const when = new Date(l.at).toISOString();
      const now = Date.now();
      if (rec.expiresAt <= now) {
        await this.transition(
          rec.id,
          FOLLOWABLE,
          'expired',
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
      await this.issue(
        site,
        fields,
        () => rec.expiresAt,
        rec.issuedBy,
        'command.reasserted',
        'system',
        {
          of: rec.id,
        },
        nextId,
      );
    }
  }

  /** An ack from a gateway (already schema-validated; `site` is the gateway's own site). */
  async onAck(site: string, ack: Ack): Promise<void> {
    const rec = await this.deps.registry.getCommand(ack.commandId);
    if (!rec || rec.siteId !== site) throw new Error(`unknown command ${ack.commandId} for site ${site}`);
    const status = ACK_STATUS[ack.status];
    // A late ack supersedes our own expiry: the edge knows what it actually applied.
    const ok = await this.transition(
      rec.id,
      ['pending', 'sent', 'expired'],
      status,
      { applied: ack.applied ?? null, reason: ack.reason ?? null, at: ack.ts },
      `gateway:${site}`,
    );
    if (!ok)
      this.deps.log.info({ id: rec.id, status: rec.status }, 'ack for a command already closed; ignored');
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
