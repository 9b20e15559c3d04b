/**
 * A transparent Modbus TCP relay between an edge agent and a (simulated) device that records every
 * register write request (FC 6 / FC 16) with the time it went to the device and, when the device
 * answered it without an exception, the time of that answer: the device side of the fault-injection
 * suite's command accounting, independent of the edge's own acks.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export interface RegisterWrite {
  unit: number;
  address: number;
  registers: number[];
  /** The request passed the relay towards the device. */
  sentAtMs: number;
  /** The device answered it without an exception (undefined: no answer seen). */
  confirmedAtMs?: number;
}

/** Splits a Modbus TCP byte stream into frames (MBAP header: length at bytes 4-5 counts unit + PDU). */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (f: Buffer) => void) {}
  push(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 7) {
      const len = this.buf.readUInt16BE(4);
      if (this.buf.length < 6 + len) return;
      this.onFrame(this.buf.subarray(0, 6 + len));
      this.buf = this.buf.subarray(6 + len);
    }
  }
}

export class ModbusTap {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  readonly writes: RegisterWrite[] = [];
  port = 0;

  constructor(private readonly upstream: { host: string; port: number }) {}

  async start(port = 0): Promise<number> {
    const srv = createServer((down) => this.relay(down));
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (srv.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const srv = this.server;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  /** Writes of one int32 register pair at `address` (a SunSpec int32 point), decoded, in order. */
  int32Writes(unit: number, address: number): Array<RegisterWrite & { value: number }> {
    const out: Array<RegisterWrite & { value: number }> = [];
    for (const w of this.writes) {
      const i = address - w.address;
      if (w.unit !== unit || i < 0 || i + 1 >= w.registers.length) continue;
      const u = w.registers[i] * 0x10000 + w.registers[i + 1];
      out.push({ ...w, value: u >= 0x80000000 ? u - 0x100000000 : u });
    }
    return out;
  }

  private relay(down: Socket): void {
    const up = connect({ host: this.upstream.host, port: this.upstream.port });
    this.sockets.add(down);
    this.sockets.add(up);
    const end = () => {
      down.destroy();
      up.destroy();
      this.sockets.delete(down);
      this.sockets.delete(up);
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    const open = new Map<number, RegisterWrite>(); // transaction id → write awaiting its answer
    const requests = new FrameReader((f) => {
      const tid = f.readUInt16BE(0);
      const unit = f[6];
      const fc = f[7];
      let w: RegisterWrite | undefined;
      if (fc === 0x06 && f.length >= 12)
        w = { unit, address: f.readUInt16BE(8), registers: [f.readUInt16BE(10)], sentAtMs: Date.now() };
      else if (fc === 0x10 && f.length >= 13) {
        const qty = f.readUInt16BE(10);
        const registers = Array.from({ length: qty }, (_, i) => f.readUInt16BE(13 + 2 * i));
        w = { unit, address: f.readUInt16BE(8), registers, sentAtMs: Date.now() };
      }
      if (!w) return;
      this.writes.push(w);
      open.set(tid, w);
    });
    const responses = new FrameReader((f) => {
      const w = open.get(f.readUInt16BE(0));
      if (!w) return;
      open.delete(f.readUInt16BE(0));
      if ((f[7] & 0x80) === 0) w.confirmedAtMs = Date.now();
    });
    down.on('data', (d: Buffer) => {
      up.write(d);
      requests.push(d);
    });
    up.on('data', (d: Buffer) => {
      down.write(d);
      responses.push(d);
    });
  }
}
