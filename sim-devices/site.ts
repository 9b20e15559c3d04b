/**
 * A simulated customer site: PV inverter (unit 1), battery inverter (unit 2) and PCC meter (unit 3)
 * behind one Modbus TCP port, like a SunSpec data logger. Physics advance in simulated time, which
 * may run faster than real time.
 */
import type { AddressInfo } from 'node:net';
import { ServerTCP } from '../protocols/modbus/lib.ts';
import { BatteryInverter, type BatteryOptions } from './battery.ts';
import { SimClock } from './clock.ts';
import { PccMeter } from './meter.ts';
import { LoadProfile } from './physics/load.ts';
import { seededRandom } from './physics/random.ts';
import { PvInverter } from './pv-inverter.ts';
import { ModbusException, type SimSunSpecDevice } from './sunspec-device.ts';

export interface SimSiteOptions {
  /** TCP port; 0 lets the OS choose (see `port` after start). */
  port?: number;
  host?: string;
  lat?: number;
  lon?: number;
  speed?: number;
  seed?: number;
  /** Simulated start time (UTC epoch ms); default now. */
  startMs?: number;
  /** Seeded cloud variability on the PV. */
  clouds?: boolean;
  pvRatedW?: number;
  loadScaleW?: number;
  battery?: BatteryOptions;
  /** Real-time milliseconds between physics steps. */
  tickMs?: number;
  serialPrefix?: string;
}

const GATEWAY_TARGET_FAILED = 0x0b;

export class SimSite {
  readonly clock: SimClock;
  readonly pv: PvInverter;
  readonly battery: BatteryInverter;
  readonly meter: PccMeter;
  readonly load: LoadProfile;
  /** Site consumption now, W. */
  loadW = 0;
  readonly units: ReadonlyMap<number, SimSunSpecDevice>;
  private server?: InstanceType<typeof ServerTCP>;
  private timer?: NodeJS.Timeout;
  private lastSimMs: number;
  port = 0;
  readonly host: string;

  constructor(private readonly opts: SimSiteOptions = {}) {
    const seed = opts.seed ?? 1;
    this.clock = new SimClock(opts.startMs ?? Date.now(), opts.speed ?? 1);
    this.host = opts.host ?? '127.0.0.1';
    const prefix = opts.serialPrefix ?? `S${seed}`;
    this.pv = new PvInverter({
      ratedW: opts.pvRatedW ?? 8000,
      lat: opts.lat,
      lon: opts.lon,
      serial: `${prefix}-PV`,
      ...(opts.clouds && { rand: seededRandom(seed * 7919) }),
    });
    this.battery = new BatteryInverter({ serial: `${prefix}-BAT`, ...opts.battery });
    this.load = new LoadProfile(
      seededRandom(seed),
      opts.loadScaleW ?? 1200,
      Math.round((opts.lon ?? 4.9) / 15),
    );
    this.meter = new PccMeter(() => this.loadW - this.pv.acW - this.battery.acW, `${prefix}-MTR`);
    this.units = new Map<number, SimSunSpecDevice>([
      [1, this.pv],
      [2, this.battery],
      [3, this.meter],
    ]);
    this.lastSimMs = this.clock.now();
    this.step();
  }

  /** Advances physics to the clock's now. Devices update in dependency order: PV, battery, meter. */
  step(): void {
    this.stepTo(this.clock.now());
  }

  /**
   * Advances physics to simulated time `now` (epoch ms) regardless of the clock: a site that is not
   * started can be run through days at any pace (the demo's history backfill does this).
   */
  stepTo(now: number): void {
    const dtS = Math.max(0, (now - this.lastSimMs) / 1000);
    this.lastSimMs = now;
    this.loadW = this.load.step(now, dtS);
    this.pv.tick(now, dtS);
    this.battery.tick(now, dtS);
    this.meter.tick(now, dtS);
  }

  async start(): Promise<void> {
    const device = (unit: number) => {
      const d = this.units.get(unit);
      if (!d) throw new ModbusException(GATEWAY_TARGET_FAILED, `no device at unit ${unit}`);
      return d;
    };
    // Unplugged devices do not answer at all; the vector's callback form lets us stay silent.
    const vector = {
      getMultipleHoldingRegisters: (
        addr: number,
        len: number,
        unit: number,
        cb: (err: unknown, v?: number[]) => void,
      ) => {
        try {
          const d = device(unit);
          if (!d.online) return;
          cb(null, d.read(addr, len));
        } catch (err) {
          cb(err);
        }
      },
      getHoldingRegister: (addr: number, unit: number, cb: (err: unknown, v?: number) => void) => {
        try {
          const d = device(unit);
          if (!d.online) return;
          cb(null, d.read(addr, 1)[0]);
        } catch (err) {
          cb(err);
        }
      },
      setRegisterArray: (addr: number, values: number[], unit: number, cb: (err: unknown) => void) => {
        try {
          const d = device(unit);
          if (!d.online) return;
          d.write(addr, values);
          cb(null);
        } catch (err) {
          cb(err);
        }
      },
      setRegister: (addr: number, value: number, unit: number, cb: (err: unknown) => void) => {
        try {
          const d = device(unit);
          if (!d.online) return;
          d.write(addr, [value]);
          cb(null);
        } catch (err) {
          cb(err);
        }
      },
    };
    // modbus-serial treats port 0 as "default 502"; the string "0" reaches net.listen as port 0.
    const port = this.opts.port ?? 0;
    const server = new ServerTCP(vector as never, {
      host: this.host,
      port: (port === 0 ? '0' : port) as number,
      unitID: 255,
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('initialized', () => resolve());
      server.once('serverError', (err: Error) => reject(err));
    });
    const inner = (server as unknown as { _server: { address(): AddressInfo } })._server;
    this.port = inner.address().port;
    this.timer = setInterval(() => this.step(), this.opts.tickMs ?? 100);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
