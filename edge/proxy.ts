/**
 * Local Modbus TCP proxy: many inverters accept one Modbus TCP client only, and the agent is that
 * client. The proxy re-serves the register image the agent last read (SunS marker, every model, end
 * marker) under each device's unit id, so a vendor monitor or home energy manager keeps working.
 * Read-only unless a device is listed as writable; writes then go through the agent's own connection
 * (and so through its transport-level read-only guard).
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ServerTCP } from '../protocols/modbus/lib.ts';
import { SUNS_MARKER } from '../protocols/sunspec/discovery.ts';
import type { SunSpecDriver } from './drivers/sunspec.ts';

class ProxyException extends Error {
  constructor(
    readonly modbusErrorCode: number,
    message: string,
  ) {
    super(message);
  }
}
const ILLEGAL_FUNCTION = 0x01;
const ILLEGAL_ADDRESS = 0x02;
const TARGET_FAILED = 0x0b;

export interface ModbusProxy {
  port: number;
  close(): Promise<void>;
}

/** The register image of one device as last read: address → value. */
export function registerImage(d: SunSpecDriver): Map<number, number> {
  const img = new Map<number, number>();
  if (d.base === undefined) return img;
  img.set(d.base, SUNS_MARKER[0]);
  img.set(d.base + 1, SUNS_MARKER[1]);
  let end = d.base + 2;
  for (const m of d.models) {
    const regs = d.cache.get(m.id) ?? [m.id, m.length, ...new Array(m.length).fill(0)];
    for (let i = 0; i < m.length + 2; i++) img.set(m.address + i, regs[i] ?? 0);
    end = m.address + m.length + 2;
  }
  img.set(end, 0xffff);
  img.set(end + 1, 0);
  return img;
}

export async function startProxy(opts: {
  host: string;
  port: number;
  devices(): SunSpecDriver[];
  writable: Set<string>;
  log: Logger;
}): Promise<ModbusProxy> {
  const find = (unit: number) => {
    const d = opts.devices().find((x) => x.unit === unit && x.base !== undefined);
    if (!d) throw new ProxyException(TARGET_FAILED, `no device at unit ${unit}`);
    return d;
  };
  const read = (addr: number, len: number, unit: number): number[] => {
    const img = registerImage(find(unit));
    const out: number[] = [];
    for (let i = 0; i < len; i++) {
      const v = img.get(addr + i);
      if (v === undefined)
        throw new ProxyException(ILLEGAL_ADDRESS, `read ${addr}+${len} outside the register map`);
      out.push(v);
    }
    return out;
  };
  const write = async (addr: number, values: number[], unit: number) => {
    const d = find(unit);
    if (!opts.writable.has(d.id))
      throw new ProxyException(ILLEGAL_FUNCTION, `${d.id} is read-only through the proxy`);
    opts.log.info({ device: d.id, addr, values }, 'proxy write forwarded');
    await d.io.writeHolding(d.unit, addr, values);
    const m = d.models.find((x) => addr >= x.address && addr < x.address + x.length + 2);
    if (m) await d.readValues(m.id).catch(() => undefined);
  };
  const vector = {
    getMultipleHoldingRegisters: (
      addr: number,
      len: number,
      unit: number,
      cb: (e: unknown, v?: number[]) => void,
    ) => {
      try {
        cb(null, read(addr, len, unit));
      } catch (err) {
        cb(err);
      }
    },
    getHoldingRegister: (addr: number, unit: number, cb: (e: unknown, v?: number) => void) => {
      try {
        cb(null, read(addr, 1, unit)[0]);
      } catch (err) {
        cb(err);
      }
    },
    setRegisterArray: (addr: number, values: number[], unit: number, cb: (e: unknown) => void) => {
      write(addr, values, unit).then(
        () => cb(null),
        (err) => cb(err instanceof ProxyException ? err : new ProxyException(TARGET_FAILED, String(err))),
      );
    },
    setRegister: (addr: number, value: number, unit: number, cb: (e: unknown) => void) => {
      write(addr, [value], unit).then(
        () => cb(null),
        (err) => cb(err instanceof ProxyException ? err : new ProxyException(TARGET_FAILED, String(err))),
      );
    },
  };
  const server = new ServerTCP(vector as never, {
    host: opts.host,
    port: (opts.port === 0 ? '0' : opts.port) as number,
    unitID: 255,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (err: Error) => reject(err));
  });
  const port = (server as unknown as { _server: { address(): AddressInfo } })._server.address().port;
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
