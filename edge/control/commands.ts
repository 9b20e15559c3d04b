/**
 * Command intake: every command from the cloud is validated — schema, site, expiry, device and
 * whether the device accepts that command — before anything is written. A refusal names the reason.
 */
import type { DeviceKind } from '../../protocols/canonical/points.ts';
import {
  type Command,
  type CommandType,
  commandSchema,
  parsePayload,
} from '../../protocols/mqtt/payloads.ts';

export interface DeviceControlInfo {
  id: string;
  kind: DeviceKind;
  controls: CommandType[];
}

export type Validation =
  | { ok: true; command: Command; devices: string[] }
  | { ok: false; status: 'refused' | 'expired'; reason: string; commandId?: string };

const ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** Best effort: the id of an invalid command, so the refusal can still be acknowledged. */
function salvageId(payload: Buffer | string): string | undefined {
  try {
    const j = JSON.parse(payload.toString()) as { id?: unknown };
    return typeof j.id === 'string' && ID_RE.test(j.id) ? j.id : undefined;
  } catch {
    return undefined;
  }
}

/** Which device kind a command addresses when no device is named. */
const TARGET_KIND: Record<CommandType, DeviceKind> = {
  active_power_limit: 'inverter',
  battery_power: 'battery',
  reactive_power: 'inverter',
  power_factor: 'inverter',
  volt_var: 'inverter',
  connect: 'inverter',
};

export function validateCommand(
  payload: Buffer | string,
  ctx: { site: string; now: number; devices: DeviceControlInfo[]; maxClockSkewMs?: number },
): Validation {
  const parsed = parsePayload(commandSchema, payload);
  if (!parsed.ok) {
    return {
      ok: false,
      status: 'refused',
      reason: `malformed command: ${parsed.error}`,
      commandId: salvageId(payload),
    };
  }
  const c = parsed.value;
  if (c.site !== ctx.site) {
    return {
      ok: false,
      status: 'refused',
      reason: `command for site ${c.site}, this is ${ctx.site}`,
      commandId: c.id,
    };
  }
  if (c.expiresAt <= ctx.now) {
    return {
      ok: false,
      status: 'expired',
      reason: `expired at ${new Date(c.expiresAt).toISOString()} (now ${new Date(ctx.now).toISOString()})`,
      commandId: c.id,
    };
  }
  const skew = ctx.maxClockSkewMs ?? 5 * 60_000;
  if (c.issuedAt > ctx.now + skew) {
    return {
      ok: false,
      status: 'refused',
      reason: `issuedAt is in the future: clocks out of sync?`,
      commandId: c.id,
    };
  }
  let devices: string[];
  if (c.device !== undefined) {
    const d = ctx.devices.find((x) => x.id === c.device);
    if (!d)
      return { ok: false, status: 'refused', reason: `no device ${c.device} at this site`, commandId: c.id };
    if (!d.controls.includes(c.type)) {
      return {
        ok: false,
        status: 'refused',
        reason: `device ${c.device} does not accept ${c.type}`,
        commandId: c.id,
      };
    }
    devices = [d.id];
  } else {
    devices = ctx.devices
      .filter((d) => d.kind === TARGET_KIND[c.type] && d.controls.includes(c.type))
      .map((d) => d.id);
    if (devices.length === 0) {
      return {
        ok: false,
        status: 'refused',
        reason: `no device at this site accepts ${c.type}`,
        commandId: c.id,
      };
    }
  }
  return { ok: true, command: c, devices };
}
