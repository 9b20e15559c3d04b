/**
 * The control decision, as a pure function of one frozen snapshot: which setpoint each controllable
 * device should get this cycle. Stages run in a fixed order, and the safety stages always run last,
 * so a remote setpoint — whatever its source — is clipped by device nameplate, state-of-charge
 * bounds and the site's import/export limits at the point of common coupling.
 *
 * Signs: device power + = delivered into the site bus (discharge, generation); meter + = export.
 */

export interface PvState {
  id: string;
  /** Output now (W), when known. */
  w?: number;
  wMax: number;
}

export interface BatteryState {
  id: string;
  w?: number;
  socPct?: number;
  chargeMaxW: number;
  dischargeMaxW: number;
  /** When `w` was sampled (epoch ms: the poll's start, so never later than the real sample). */
  sampledAt?: number;
  /**
   * The last power setpoint written and from when readings can show it (write acknowledged plus the
   * device's response time). Readings sampled before `settledAt` still show the previous setpoint.
   */
  lastSetpoint?: { w: number; settledAt: number };
}

export interface Snapshot {
  ts: number;
  /** Meter at the PCC, export positive; undefined when stale or missing. */
  meterW?: number;
  /** When `meterW` was sampled (epoch ms, poll start). */
  meterSampledAt?: number;
  pv: PvState[];
  batteries: BatteryState[];
}

export interface RemoteSetpoints {
  /** Battery id → requested power (W, + discharge). */
  battery: Record<string, number>;
  /** Inverter id → requested active power limit (W). */
  pvLimit: Record<string, number>;
}

export interface ControlSettings {
  importMaxW?: number;
  exportMaxW?: number;
  defaultMode: 'self_consumption' | 'idle';
  socReservePct: number;
  /** SoC at or above which a battery takes no more charge. */
  socFullPct?: number;
  deadbandW: number;
}

export interface Decision {
  mode: 'default' | 'remote';
  battery: Record<string, number>;
  pvLimit: Record<string, number>;
  /** Per device: why the target differs from what was asked (for acks and logs). */
  notes: Record<string, string[]>;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Power bounds a battery may be asked for now: nameplate and state of charge. */
export function batteryBounds(b: BatteryState, s: ControlSettings): [number, number] {
  let lo = -b.chargeMaxW;
  let hi = b.dischargeMaxW;
  if (b.socPct !== undefined && b.socPct <= s.socReservePct) hi = 0;
  if (b.socPct !== undefined && b.socPct >= (s.socFullPct ?? 100)) lo = 0;
  // Unknown state of charge: no discharge (it might be empty), charging is safe.
  if (b.socPct === undefined) hi = 0;
  return [lo, hi];
}

/**
 * Whether the readings the self-consumption target uses may straddle a battery setpoint change:
 * each battery must have been sampled after its own last setpoint settled, the meter after all of
 * them. Devices are polled one after another, so otherwise the snapshot can pair an old battery power
 * with a new meter power, the uncontrolled load (meter - batteries) is wrong by the whole change, and
 * the deadbeat target swings. Readings without a sample time are taken as they are.
 */
export function readingsPredateSetpoint(snap: Snapshot): boolean {
  let settledAt = -Infinity;
  for (const b of snap.batteries) {
    if (!b.lastSetpoint) continue;
    settledAt = Math.max(settledAt, b.lastSetpoint.settledAt);
    if (b.w !== undefined && b.sampledAt !== undefined && b.sampledAt < b.lastSetpoint.settledAt) return true;
  }
  return snap.meterW !== undefined && snap.meterSampledAt !== undefined && snap.meterSampledAt < settledAt;
}

export function decide(snap: Snapshot, remote: RemoteSetpoints, s: ControlSettings): Decision {
  const notes: Record<string, string[]> = {};
  const note = (id: string, msg: string) => {
    notes[id] ??= [];
    notes[id].push(msg);
  };
  const hasRemote = Object.keys(remote.battery).length > 0 || Object.keys(remote.pvLimit).length > 0;
  const meterFresh = snap.meterW !== undefined && Number.isFinite(snap.meterW);

  // Stage 1: wishes — remote setpoints, else the default mode.
  const battery: Record<string, number> = {};
  const totalBattW = snap.batteries.reduce((a, b) => a + (b.w ?? 0), 0);
  const selfTarget =
    meterFresh && s.defaultMode === 'self_consumption'
      ? Math.abs(snap.meterW as number) < s.deadbandW
        ? totalBattW
        : totalBattW - (snap.meterW as number)
      : 0;
  const ratingSum = snap.batteries.reduce((a, b) => a + b.dischargeMaxW + b.chargeMaxW, 0) || 1;
  // A setpoint change not yet visible in every reading: hold the last setpoints (safety stages still run).
  const hold = meterFresh && s.defaultMode === 'self_consumption' && readingsPredateSetpoint(snap);
  for (const b of snap.batteries) {
    if (b.id in remote.battery) battery[b.id] = remote.battery[b.id];
    else if (hold) battery[b.id] = b.lastSetpoint?.w ?? b.w ?? 0;
    else battery[b.id] = (selfTarget * (b.dischargeMaxW + b.chargeMaxW)) / ratingSum;
    if (!meterFresh && !(b.id in remote.battery) && s.defaultMode === 'self_consumption') {
      note(b.id, 'meter stale: battery held at 0 W');
    }
  }
  const pvLimit: Record<string, number> = {};
  for (const p of snap.pv) pvLimit[p.id] = p.id in remote.pvLimit ? remote.pvLimit[p.id] : p.wMax;

  // Stage 2: device safety — nameplate and state of charge.
  const clipBatteries = () => {
    for (const b of snap.batteries) {
      const [lo, hi] = batteryBounds(b, s);
      const x = battery[b.id];
      const c = clamp(Number.isFinite(x) ? x : 0, lo, hi);
      if (c !== x)
        note(b.id, `clamped ${Math.round(x)} W to ${Math.round(c)} W (device limits ${lo}..${hi} W)`);
      battery[b.id] = c;
    }
  };
  const clipPv = () => {
    for (const p of snap.pv) {
      const x = pvLimit[p.id];
      const c = clamp(Number.isFinite(x) ? x : 0, 0, p.wMax);
      if (c !== x) note(p.id, `limit clamped ${Math.round(x)} W to ${Math.round(c)} W (rated ${p.wMax} W)`);
      pvLimit[p.id] = c;
    }
  };
  clipBatteries();
  clipPv();

  // Stage 3: site limits at the PCC, predicted from the snapshot.
  if (meterFresh) {
    const predicted = () => {
      let m = snap.meterW as number;
      for (const b of snap.batteries) m += battery[b.id] - (b.w ?? 0);
      for (const p of snap.pv) m += Math.min(p.w ?? 0, pvLimit[p.id]) - (p.w ?? 0);
      return m;
    };
    if (s.exportMaxW !== undefined) {
      let excess = predicted() - s.exportMaxW;
      // Batteries first (stop discharging / charge more), then curtail PV.
      for (const b of snap.batteries) {
        if (excess <= 0) break;
        const [lo] = batteryBounds(b, s);
        const next = Math.max(lo, battery[b.id] - excess);
        if (next !== battery[b.id])
          note(b.id, `export limit ${s.exportMaxW} W: ${Math.round(battery[b.id])} → ${Math.round(next)} W`);
        excess -= battery[b.id] - next;
        battery[b.id] = next;
      }
      for (const p of snap.pv) {
        if (excess <= 0) break;
        const out = Math.min(p.w ?? 0, pvLimit[p.id]);
        const next = Math.max(0, out - excess);
        note(p.id, `export limit ${s.exportMaxW} W: PV limited to ${Math.round(next)} W`);
        excess -= out - next;
        pvLimit[p.id] = next;
      }
      if (excess > 0) for (const p of snap.pv) pvLimit[p.id] = 0;
      // Headroom: a curtailed inverter may rise only as far as the export limit allows.
      const room = s.exportMaxW - predicted();
      for (const p of snap.pv) {
        const out = Math.min(p.w ?? 0, pvLimit[p.id]);
        pvLimit[p.id] = Math.min(pvLimit[p.id], Math.max(0, out + Math.max(0, room)));
      }
    }
    if (s.importMaxW !== undefined) {
      let deficit = -s.importMaxW - predicted();
      for (const b of snap.batteries) {
        if (deficit <= 0) break;
        const [, hi] = batteryBounds(b, s);
        const next = Math.min(hi, battery[b.id] + deficit);
        if (next !== battery[b.id])
          note(b.id, `import limit ${s.importMaxW} W: ${Math.round(battery[b.id])} → ${Math.round(next)} W`);
        deficit -= next - battery[b.id];
        battery[b.id] = next;
      }
    }
  } else if (s.exportMaxW !== undefined || s.importMaxW !== undefined) {
    // No meter: the site limits cannot be checked; batteries go to their safe state (0 W).
    for (const b of snap.batteries) {
      if (battery[b.id] !== 0) note(b.id, 'meter stale: site limits unknown, battery held at 0 W');
      battery[b.id] = 0;
    }
    if (s.exportMaxW !== undefined) {
      for (const p of snap.pv) {
        const cap = Math.min(pvLimit[p.id], Math.max(0, p.w ?? 0));
        pvLimit[p.id] = cap;
      }
    }
  }

  // Stage 4: the device safety clip again, last, whatever the stages above did.
  clipBatteries();
  clipPv();
  // Truncate toward zero: stays inside any bounds that contain 0 (all of ours do).
  for (const id of Object.keys(battery)) battery[id] = Math.trunc(battery[id]);
  for (const id of Object.keys(pvLimit)) pvLimit[id] = Math.floor(pvLimit[id]);
  return { mode: hasRemote ? 'remote' : 'default', battery, pvLimit, notes };
}
