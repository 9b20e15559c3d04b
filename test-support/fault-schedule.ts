/**
 * A seeded, reproducible fault plan for the fault-injection suite: which part is hit how, when and for
 * how long, plus the commands sent in between. The seed comes from GRIDLAYER_FAULT_SEED when set (so a
 * failing run can be replayed exactly) and is printed either way.
 */
import { seededRandom } from '../cloud/random.ts';

/**
 * kill9: SIGKILL, started again after the outage. stop: SIGSTOP, SIGCONT after the outage. restart:
 * SIGTERM, started again after the outage. stopkill: SIGSTOP, SIGCONT after the outage, then SIGKILL
 * `killAfterMs` (5-300 ms) later, while it works off the backlog the stall built up, and started again.
 */
export type FaultKind = 'kill9' | 'stop' | 'restart' | 'stopkill';

export interface Fault {
  /** Offset from the start of the fault phase (ms). */
  atMs: number;
  target: string;
  kind: FaultKind;
  /** How long the part stays dead or frozen (ms). */
  outageMs: number;
  /** stopkill only: from SIGCONT to SIGKILL (ms). */
  killAfterMs?: number;
}

export interface PlannedCommand {
  atMs: number;
  target: string;
  ttlSeconds: number;
}

export interface FaultPlanOptions {
  seed: number;
  /** What may be hit and how, e.g. { 'edge:site-a': ['kill9', 'stop', 'restart'] }. */
  targets: Record<string, FaultKind[]>;
  /**
   * Faults drawn freely, after the coverage set: every kind of every part class (the name before
   * `:`, e.g. every edge) once, on a member drawn at random, in a shuffled order.
   */
  extraFaults: number;
  /** Quiet time between the end of one fault and the start of the next, ms [min, max). */
  gapMs: [number, number];
  outageMs: [number, number];
  /** Command targets (sites) and spacing. */
  commandTargets: string[];
  commandEveryMs: [number, number];
  ttlSeconds: [number, number];
}

export interface FaultPlan {
  seed: number;
  faults: Fault[];
  commands: PlannedCommand[];
  durationMs: number;
}

/** The seed to use: GRIDLAYER_FAULT_SEED (decimal) when set, otherwise a fresh one. */
export function faultSeed(env = process.env): number {
  const raw = env.GRIDLAYER_FAULT_SEED;
  if (raw === undefined || raw === '') return Math.floor(Math.random() * 2 ** 31);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32)
    throw new Error(`GRIDLAYER_FAULT_SEED must be an integer 0..2^32-1, got ${raw}`);
  return n;
}

/**
 * Faults one after another (one part down at a time, so every outage's effect can be attributed),
 * every kind of fault on every class of part at least once, commands spread over the whole phase,
 * including the outages. Same options and seed = same plan.
 */
export function planFaults(o: FaultPlanOptions): FaultPlan {
  const rnd = seededRandom(o.seed);
  const between = ([lo, hi]: [number, number]) => Math.floor(lo + rnd() * (hi - lo));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const names = Object.keys(o.targets).sort();
  if (!names.length) throw new Error('planFaults: no targets');
  const classes = new Map<string, { members: string[]; kinds: Set<FaultKind> }>();
  for (const name of names) {
    const cls = name.split(':')[0];
    const c = classes.get(cls) ?? { members: [], kinds: new Set<FaultKind>() };
    classes.set(cls, c);
    c.members.push(name);
    for (const k of o.targets[name]) c.kinds.add(k);
  }
  const draws: Array<{ target: string; kind: FaultKind }> = [];
  for (const [, c] of [...classes].sort(([a], [b]) => a.localeCompare(b)))
    for (const kind of [...c.kinds].sort()) {
      const able = c.members.filter((m) => o.targets[m].includes(kind));
      draws.push({ target: pick(able), kind });
    }
  for (let i = draws.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [draws[i], draws[j]] = [draws[j], draws[i]];
  }
  for (let i = 0; i < o.extraFaults; i++) {
    const target = pick(names);
    draws.push({ target, kind: pick(o.targets[target]) });
  }
  const faults: Fault[] = [];
  let t = 0;
  for (const d of draws) {
    t += between(o.gapMs);
    const fault: Fault = { atMs: t, target: d.target, kind: d.kind, outageMs: between(o.outageMs) };
    // Skewed towards short delays (median ~80 ms): the backlog of a stall is worked off within tens of ms.
    if (fault.kind === 'stopkill') fault.killAfterMs = 5 + Math.floor(295 * rnd() ** 2);
    faults.push(fault);
    t += fault.outageMs + (fault.killAfterMs ?? 0);
  }
  const durationMs = t + between(o.gapMs);
  const commands: PlannedCommand[] = [];
  for (let c = between(o.commandEveryMs); c < durationMs; c += between(o.commandEveryMs)) {
    commands.push({
      atMs: c,
      target: pick(o.commandTargets),
      ttlSeconds: between([o.ttlSeconds[0], o.ttlSeconds[1] + 1]),
    });
  }
  return { seed: o.seed, faults, commands, durationMs };
}

/** One line per logged event, with the wall-clock time, kept for the failure message and printed live. */
export class FaultLog {
  readonly lines: string[] = [];
  constructor(private readonly echo = process.env.GRIDLAYER_FAULT_QUIET !== '1') {}

  log(what: string): void {
    const line = `${new Date().toISOString()} ${what}`;
    this.lines.push(line);
    if (this.echo) console.log(`    [fault] ${line}`);
  }

  toString(): string {
    return this.lines.join('\n');
  }
}
