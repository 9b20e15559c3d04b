/**
 * The edge's command ledger, in SQLite next to the telemetry buffer, so that what the controller
 * decided about a command survives a restart of the agent (kill -9 included):
 * - `acks`: command id → the answer given. A command delivered again (the broker's QoS 1 session, the
 *   cloud re-sending open commands) is answered with the stored ack and never applied a second time.
 *   Rows are kept until an hour after the command's expiry; a copy arriving later is refused as
 *   expired by the intake check anyway.
 * - `held`: the remote setpoints being followed now (device, kind → command, expiry). After a restart
 *   none of them is followed any more (the controller starts in its default mode): each unexpired one
 *   becomes a lapse.
 * - `lapses`: remote setpoints dropped before their expiry (uplink lost too long, agent restarted),
 *   reported to the cloud in every online status until a newer command for one of their devices
 *   arrives (the cloud's re-assertion) or 24 h have passed.
 * - `inflight`: an immediate command (var, PF, volt-var, connect) whose device writes have started and
 *   whose answer is not recorded yet. Written before the first register write, removed with the ack in
 *   one transaction: a row found at start-up means the agent died mid-write, and the controller reads
 *   the devices back to tell the cloud whether they took it. One settled as a lapse (taken and dropped
 *   by the restart, or unknown) keeps its row, marked, until an hour past its expiry: a copy delivered
 *   again must find it and not be applied a second time, since no ack records it.
 * Every write is one small synchronous transaction, done before the ack leaves the agent.
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Ack } from '../../protocols/mqtt/payloads.ts';
import type { Setpoint } from '../drivers/types.ts';

/** Which store of the controller a setpoint sits in. */
export type HeldKind = 'battery' | 'pvLimit' | 'reactive';

export interface Lapse {
  commandId: string;
  /** When the edge dropped the setpoint (epoch ms). */
  at: number;
  reason: string;
}

/** An immediate command the agent was writing when it last stopped (see `inflight` above). */
export interface InFlight {
  commandId: string;
  /** What was (about to be) written to each device. */
  targets: { device: string; sp: Setpoint }[];
  expiresAt: number;
  startedAt: number;
}

const KEEP_ACK_MS = 3_600_000;
const KEEP_LAPSE_MS = 24 * 3_600_000;
/** The status payload lists at most this many (protocols/mqtt/payloads.ts). */
export const MAX_REPORTED_LAPSES = 50;

/** The ledger file for a buffer file: `/var/lib/gridlayer/buffer.db` → `…/buffer-commands.db`. */
export function ledgerPathFor(bufferPath: string): string {
  if (bufferPath === ':memory:') return ':memory:';
  const ext = extname(bufferPath);
  return join(dirname(bufferPath), `${basename(bufferPath, ext)}-commands${ext || '.db'}`);
}

export class CommandLedger {
  private readonly db: Database.Database;
  private readonly s: Record<string, Database.Statement>;
  private writes = 0;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // Commands are rare and an answer must not be forgotten on a power cut: FULL costs little here.
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS acks (
        command_id TEXT PRIMARY KEY, ack TEXT NOT NULL, keep_until INTEGER NOT NULL,
        delivered INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS held (
        device TEXT NOT NULL, kind TEXT NOT NULL, command_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
        PRIMARY KEY (device, kind));
      CREATE TABLE IF NOT EXISTS lapses (
        command_id TEXT PRIMARY KEY, at INTEGER NOT NULL, reason TEXT NOT NULL, devices TEXT NOT NULL,
        kind TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS inflight (
        command_id TEXT PRIMARY KEY, targets TEXT NOT NULL, expires_at INTEGER NOT NULL,
        started_at INTEGER NOT NULL, lapsed INTEGER NOT NULL DEFAULT 0);
    `);
    // A ledger written before acks recorded their delivery: every stored answer counts as delivered.
    const cols = this.db.prepare('PRAGMA table_info(acks)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'delivered'))
      this.db.exec('ALTER TABLE acks ADD COLUMN delivered INTEGER NOT NULL DEFAULT 1');
    const inflightCols = this.db.prepare('PRAGMA table_info(inflight)').all() as { name: string }[];
    if (!inflightCols.some((c) => c.name === 'lapsed'))
      this.db.exec('ALTER TABLE inflight ADD COLUMN lapsed INTEGER NOT NULL DEFAULT 0');
    const p = (sql: string) => this.db.prepare(sql);
    this.s = {
      delivered: p('UPDATE acks SET delivered = 1 WHERE command_id = ?'),
      undelivered: p('SELECT ack FROM acks WHERE delivered = 0 ORDER BY rowid LIMIT ?'),
      getAck: p('SELECT ack FROM acks WHERE command_id = ?'),
      putAck: p(
        'INSERT INTO acks (command_id, ack, keep_until) VALUES (?, ?, ?) ON CONFLICT (command_id) DO NOTHING',
      ),
      pruneAcks: p('DELETE FROM acks WHERE keep_until < ?'),
      hold: p(
        `INSERT INTO held (device, kind, command_id, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (device, kind) DO UPDATE SET command_id = excluded.command_id, expires_at = excluded.expires_at`,
      ),
      release: p('DELETE FROM held WHERE device = ? AND kind = ? AND command_id = ?'),
      allHeld: p('SELECT device, kind, command_id, expires_at FROM held ORDER BY command_id, device'),
      clearHeld: p('DELETE FROM held'),
      lapse: p(
        `INSERT INTO lapses (command_id, at, reason, devices, kind) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (command_id) DO UPDATE SET devices = lapses.devices || ',' || excluded.devices`,
      ),
      lapsesOfKind: p('SELECT command_id, devices FROM lapses WHERE kind = ?'),
      isLapse: p('SELECT 1 FROM lapses WHERE command_id = ?'),
      dropLapse: p('DELETE FROM lapses WHERE command_id = ?'),
      pruneLapses: p('DELETE FROM lapses WHERE at < ?'),
      lapses: p('SELECT command_id, at, reason FROM lapses ORDER BY at DESC, command_id LIMIT ?'),
      begin: p(
        'INSERT OR REPLACE INTO inflight (command_id, targets, expires_at, started_at) VALUES (?, ?, ?, ?)',
      ),
      settled: p('DELETE FROM inflight WHERE command_id = ?'),
      lapsedInflight: p('UPDATE inflight SET lapsed = 1 WHERE command_id = ?'),
      isLapsedInflight: p('SELECT 1 FROM inflight WHERE command_id = ? AND lapsed = 1'),
      pruneInflight: p('DELETE FROM inflight WHERE lapsed = 1 AND expires_at < ?'),
      inflight: p(
        'SELECT command_id, targets, expires_at, started_at FROM inflight WHERE lapsed = 0 ORDER BY started_at',
      ),
    };
    this.prune(Date.now());
  }

  /** The answer given to a command id, if any. */
  ack(commandId: string): Ack | undefined {
    const r = this.s.getAck.get(commandId) as { ack: string } | undefined;
    return r ? (JSON.parse(r.ack) as Ack) : undefined;
  }

  /** The broker acknowledged (PUBACK) the ack message: it need not be sent again after a restart. */
  markDelivered(commandId: string): void {
    if (this.db.open) this.s.delivered.run(commandId);
  }

  /**
   * Answers recorded but not yet taken by the broker (the agent was killed, or the uplink was down, in
   * between): sent again on every (re)connect, oldest first, so the cloud learns every verdict.
   */
  undelivered(limit = 1000): Ack[] {
    return (this.s.undelivered.all(limit) as { ack: string }[]).map((r) => JSON.parse(r.ack) as Ack);
  }

  /** Records the first answer to a command; `expiresAt` unknown (a malformed command): kept 24 h. */
  recordAck(ack: Ack, expiresAt: number | undefined, now = Date.now()): void {
    const keepUntil = expiresAt === undefined ? now + KEEP_LAPSE_MS : Math.max(expiresAt, now) + KEEP_ACK_MS;
    this.db.transaction(() => {
      this.s.putAck.run(ack.commandId, JSON.stringify(ack), keepUntil);
      this.s.settled.run(ack.commandId);
    })();
    if (++this.writes % 100 === 0) this.prune(now);
  }

  /** Before the first device write of an immediate command: its outcome is open until the ack. */
  beginApply(f: InFlight): void {
    this.s.begin.run(f.commandId, JSON.stringify(f.targets), f.expiresAt, f.startedAt);
  }

  /** Immediate commands whose writes began but whose answer was never recorded (the agent died). */
  inflight(): InFlight[] {
    return (
      this.s.inflight.all() as {
        command_id: string;
        targets: string;
        expires_at: number;
        started_at: number;
      }[]
    ).map((r) => ({
      commandId: r.command_id,
      targets: JSON.parse(r.targets) as InFlight['targets'],
      expiresAt: r.expires_at,
      startedAt: r.started_at,
    }));
  }

  /**
   * An in-flight command the devices did take (read back after the restart), and that the restart
   * then dropped: reported as a lapse, whatever its expiry, since the cloud has no answer for it.
   */
  lapseInflight(
    commandId: string,
    devices: string[],
    kind: HeldKind,
    lapse: { at: number; reason: string },
  ): void {
    this.db.transaction(() => {
      this.s.lapse.run(commandId, lapse.at, lapse.reason, devices.join(','), kind);
      this.s.lapsedInflight.run(commandId);
    })();
  }

  /**
   * The command lapsed with a restart before its answer was recorded (in flight, or held before its
   * ack): a copy delivered again must not be applied, since no ack records that it was.
   */
  lapsedWithoutAck(commandId: string): boolean {
    return (
      this.s.isLapsedInflight.get(commandId) !== undefined || this.s.isLapse.get(commandId) !== undefined
    );
  }

  /** A remote setpoint is now held for `device`; it replaces any lapse of the same kind there. */
  hold(device: string, kind: HeldKind, commandId: string, expiresAt: number): void {
    this.db.transaction(() => {
      this.s.hold.run(device, kind, commandId, expiresAt);
      for (const l of this.s.lapsesOfKind.all(kind) as { command_id: string; devices: string }[])
        if (l.command_id !== commandId && l.devices.split(',').includes(device))
          this.s.dropLapse.run(l.command_id);
    })();
  }

  /** The setpoint ended (expired, replaced, write failed); `lapse` when it ended before its expiry. */
  release(device: string, kind: HeldKind, commandId: string, lapse?: { at: number; reason: string }): void {
    this.db.transaction(() => {
      this.s.release.run(device, kind, commandId);
      if (lapse) this.s.lapse.run(commandId, lapse.at, lapse.reason, device, kind);
    })();
  }

  /**
   * At start-up: the setpoints held when the agent last ran are not followed any more. The unexpired
   * ones become lapses; returns them.
   */
  lapseHeld(now: number, reason: string): Lapse[] {
    return this.db.transaction(() => {
      // A command still in flight is settled by reading its devices back, not assumed taken.
      const open = new Set(this.inflight().map((f) => f.commandId));
      const rows = (
        this.s.allHeld.all() as {
          device: string;
          kind: HeldKind;
          command_id: string;
          expires_at: number;
        }[]
      ).filter((r) => !open.has(r.command_id));
      for (const r of rows)
        if (r.expires_at > now) this.s.lapse.run(r.command_id, now, reason, r.device, r.kind);
      this.s.clearHeld.run();
      return [...new Set(rows.filter((r) => r.expires_at > now).map((r) => r.command_id))].map((id) => ({
        commandId: id,
        at: now,
        reason,
      }));
    })();
  }

  /** Devices holding an unexpired var/PF setpoint of the last process (none in flight), for start-up. */
  heldReactive(now: number): string[] {
    const open = new Set(this.inflight().map((f) => f.commandId));
    return (
      this.s.allHeld.all() as { device: string; kind: HeldKind; command_id: string; expires_at: number }[]
    )
      .filter((r) => r.kind === 'reactive' && r.expires_at > now && !open.has(r.command_id))
      .map((r) => r.device);
  }

  /** Lapses to report, newest first (at most MAX_REPORTED_LAPSES). */
  lapses(): Lapse[] {
    return (
      this.s.lapses.all(MAX_REPORTED_LAPSES) as { command_id: string; at: number; reason: string }[]
    ).map((r) => ({ commandId: r.command_id, at: r.at, reason: r.reason }));
  }

  private prune(now: number): void {
    this.s.pruneAcks.run(now);
    this.s.pruneLapses.run(now - KEEP_LAPSE_MS);
    this.s.pruneInflight.run(now - KEEP_ACK_MS);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
