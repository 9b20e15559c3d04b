/**
 * Local Modbus TCP proxy: many inverters accept one Modbus TCP client only, and the agent is that
 * client. The proxy re-serves the register image the agent last read (SunS marker, every model, end
 * marker) under each device's unit id, so a vendor monitor or home energy manager keeps working.
 * The agent polls only the models it needs; a model older than the device's poll interval is re-read
 * through the agent's own connection when a proxy client asks for it, so the image is never older
 * than one poll. A device the agent sees as down answers 0x0B (gateway target failed to respond)
 * rather than a stale image. Read-only unless a device is listed as writable; writes then go through
 * the agent's own connection (and so through its transport-level read-only guard), and the device's
 * own exception code comes back to the proxy client.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ModbusError } from '../protocols/modbus/client.ts';
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

/** A Modbus error from the device (or the agent's line) as the exception the proxy client gets. */
function asProxyException(err: unknown): ProxyException {
  if (err instanceof ProxyException) return err;
  const msg = (err as Error).message ?? String(err);
  if (err instanceof ModbusError) {
    if (err.kind === 'exception' && err.code !== undefined) return new ProxyException(err.code, msg);
    if (err.kind === 'read-only') return new ProxyException(ILLEGAL_FUNCTION, msg);
  }
  return new ProxyException(TARGET_FAILED, msg); // timeout, connection lost
}

export async function startProxy(opts: {
  host: string;
  port: number;
  devices(): SunSpecDriver[];
  writable: Set<string>;
  /** True while the agent's polls of this device fail: the proxy then answers 0x0B at once. */
  isDown?(id: string): boolean;
  /** How old a model in the image may be before a proxy read re-reads it (the device's poll interval). */
  maxAgeMs?(id: string): number;
  log: Logger;
}): Promise<ModbusProxy> {
  const find = (unit: number) => {
    const d = opts.devices().find((x) => x.unit === unit && x.base !== undefined);
    if (!d) throw new ProxyException(TARGET_FAILED, `no device at unit ${unit}`);
    if (opts.isDown?.(d.id)) throw new ProxyException(TARGET_FAILED, `${d.id} is not answering`);
    return d;
  };
  // One refresh per device and model at a time, however many proxy clients ask.
  const refreshing = new Map<string, Promise<unknown>>();
  const refresh = async (d: SunSpecDriver, addr: number, len: number) => {
    const maxAge = opts.maxAgeMs?.(d.id) ?? 1000;
    const now = Date.now();
    for (const m of d.models) {
      if (!m.def || m.address >= addr + len || m.address + m.length + 2 <= addr) continue;
      if (now - (d.cacheAt.get(m.id) ?? 0) <= maxAge) continue;
      const key = `${d.id}/${m.id}`;
      let p = refreshing.get(key);
      if (!p) {
        p = d.readValues(m.id).finally(() => refreshing.delete(key));
        refreshing.set(key, p);
      }
      await p;
    }
  };
  const read = async (addr: number, len: number, unit: number): Promise<number[]> => {
    const d = find(unit);
    await refresh(d, addr, len);
    const img = registerImage(d);
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
    // Read back what the device now holds, so the next proxy read shows it.
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
      read(addr, len, unit).then(
        (v) => cb(null, v),
        (err) => cb(asProxyException(err)),
      );
    },
    getHoldingRegister: (addr: number, unit: number, cb: (e: unknown, v?: number) => void) => {
      read(addr, 1, unit).then(
        (v) => cb(null, v[0]),
        (err) => cb(asProxyException(err)),
      );
    },
    setRegisterArray: (addr: number, values: number[], unit: number, cb: (e: unknown) => void) => {
      write(addr, values, unit).then(
        () => cb(null),
        (err) => cb(asProxyException(err)),
      );
    },
    setRegister: (addr: number, value: number, unit: number, cb: (e: unknown) => void) => {
      write(addr, [value], unit).then(
        () => cb(null),
        (err) => cb(asProxyException(err)),
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
