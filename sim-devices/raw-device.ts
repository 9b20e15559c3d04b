/**
 * A Modbus TCP server over a raw register map, for misbehaving devices: garbage values, truncated
 * models, missing end markers, exceptions, silence. Real SunSpec devices do all of these.
 */
import type { AddressInfo } from 'node:net';
import { ServerTCP } from '../protocols/modbus/lib.ts';

export interface RawDeviceBehaviour {
  /** unit → register map (address → value); unmapped addresses answer exception 2. */
  units: Map<number, Map<number, number>>;
  /** Units that never answer (timeouts). */
  silent?: Set<number>;
}

export class RawModbusDevice {
  private server?: InstanceType<typeof ServerTCP>;
  port = 0;

  constructor(readonly behaviour: RawDeviceBehaviour) {}

  /** Loads `words` into unit's map starting at `address`. */
  static block(address: number, words: number[], into = new Map<number, number>()): Map<number, number> {
    words.forEach((w, i) => {
      into.set(address + i, w);
    });
    return into;
  }

  async start(): Promise<void> {
    const read = (addr: number, len: number, unit: number): number[] => {
      const map = this.behaviour.units.get(unit);
      if (!map) throw { modbusErrorCode: 0x0b };
      const out: number[] = [];
      for (let i = 0; i < len; i++) {
        const v = map.get(addr + i);
        if (v === undefined) throw { modbusErrorCode: 0x02 };
        out.push(v);
      }
      return out;
    };
    const vector = {
      getMultipleHoldingRegisters: (
        addr: number,
        len: number,
        unit: number,
        cb: (e: unknown, v?: number[]) => void,
      ) => {
        if (this.behaviour.silent?.has(unit)) return;
        try {
          cb(null, read(addr, len, unit));
        } catch (e) {
          cb(e);
        }
      },
      getHoldingRegister: (addr: number, unit: number, cb: (e: unknown, v?: number) => void) => {
        if (this.behaviour.silent?.has(unit)) return;
        try {
          cb(null, read(addr, 1, unit)[0]);
        } catch (e) {
          cb(e);
        }
      },
    };
    const server = new ServerTCP(vector as never, {
      host: '127.0.0.1',
      port: '0' as unknown as number,
      unitID: 255,
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('initialized', () => resolve());
      server.once('serverError', reject);
    });
    this.port = (server as unknown as { _server: { address(): AddressInfo } })._server.address().port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
