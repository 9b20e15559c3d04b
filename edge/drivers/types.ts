/** What the agent needs from any device driver, whatever the protocol underneath. */
import type { CanonicalPoint, DeviceKind, Nameplate, Quality } from '../../protocols/canonical/points.ts';
import type { CommandType, DeviceCapability } from '../../protocols/mqtt/payloads.ts';

export type CanonicalValues = Partial<Record<CanonicalPoint, number>>;

export interface Reading {
  ts: number;
  values: CanonicalValues;
  /** Only points whose quality is not `good`. */
  quality: Partial<Record<CanonicalPoint, Quality>>;
}

/** A setpoint a driver can write. Powers follow the canonical sign convention (+ = delivered). */
export type Setpoint =
  | { type: 'active_power_limit'; w: number }
  | { type: 'battery_power'; w: number }
  | { type: 'reactive_power'; var: number }
  | { type: 'power_factor'; pf: number }
  /** Ends constant-var and constant-PF modes: the device goes back to its own default. */
  | { type: 'reactive_default' }
  | { type: 'volt_var'; enabled: boolean }
  | { type: 'connect'; connected: boolean };

/** The advertised control a setpoint needs (ending a reactive mode needs the device to have one). */
export function controlOf(sp: Setpoint): CommandType {
  return sp.type === 'reactive_default' ? 'reactive_power' : sp.type;
}

/** What the device reports back after a write (read-back), in the setpoint's own units. */
export type Applied = Record<string, number | boolean>;

export interface DeviceIdentity {
  manufacturer?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  models?: number[];
}

export interface DeviceDriver {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly protocol: DeviceCapability['protocol'];
  readonly identity: DeviceIdentity;
  readonly nameplate: Nameplate;
  /** Command types this device accepts (empty when read-only). */
  readonly controls: CommandType[];
  /** Seconds the device reverts a setpoint after, when it supports a revert timer. */
  readonly revertS?: number;
  /** Connects and learns the device (models, identity, nameplate). Throws when unreachable. */
  open(): Promise<void>;
  /** Reads the device's current values once (drivers that push values may serve their cache). */
  poll(): Promise<Reading>;
  /**
   * Writes a setpoint and reads it back. Throws with a reason when it cannot; throws
   * SetpointExpiredError, writing nothing more, once `opts.stillWanted()` turns false before a write.
   */
  apply(sp: Setpoint, opts?: ApplyOptions): Promise<Applied>;
  /**
   * Reads, writing nothing, whether the device holds the value `sp` writes (its target register
   * carries it, enabled or not): after a restart mid-write this tells a write that reached the device
   * from one that did not. Absent when the driver cannot tell.
   */
  holds?(sp: Setpoint): Promise<boolean>;
  close(): Promise<void>;
}

export interface ApplyOptions {
  /**
   * Asked right before every register/node write: false means the command behind the setpoint has
   * expired (e.g. while a read ahead of the write waited on a frozen device), so nothing is written late.
   */
  stillWanted?: () => boolean;
}

/** A write was not issued because its command expired before the device could take it. */
export class SetpointExpiredError extends Error {
  constructor(device: string) {
    super(`${device}: command expired before the device could be written`);
    this.name = 'SetpointExpiredError';
  }
}
