/**
 * A Modbus master over TCP or RTU (modbus-serial) that the whole system shares: one transaction at a
 * time per connection (unit ids share the line; many devices cannot pipeline), errors that name the
 * device, unit and address, and a read-only mode enforced here, at the transport, not by convention.
 */
import { ModbusRTU } from './lib.ts';

/** The register I/O that SunSpec discovery and device drivers need; implemented over TCP and RTU. */
export interface RegisterIO {
  /** Human name of the endpoint, for error messages (e.g. `tcp://10.0.0.5:502`). */
  readonly endpoint: string;
  readHolding(unit: number, address: number, length: number): Promise<number[]>;
  /**
   * `opts.stillWanted` is asked when the write's turn on the line comes (after any queued transaction
   * and reconnect): false rejects with kind 'not-wanted' and nothing goes on the wire.
   */
  writeHolding(unit: number, address: number, values: number[], opts?: WriteOptions): Promise<void>;
}

export interface WriteOptions {
  stillWanted?: () => boolean;
}

export type ModbusErrorKind = 'timeout' | 'exception' | 'connection' | 'read-only' | 'not-wanted';

export class ModbusError extends Error {
  constructor(
    message: string,
    readonly kind: ModbusErrorKind,
    readonly unit: number,
    readonly address: number,
    /** Modbus exception code (1 illegal function, 2 illegal address, 3 illegal value, 4 device failure, 0x0B gateway target failed to respond). */
    readonly code?: number,
  ) {
    super(message);
    this.name = 'ModbusError';
  }
}

export type Transport =
  | { kind: 'tcp'; host: string; port: number }
  | {
      kind: 'rtu';
      path: string;
      baudRate: number;
      parity?: 'none' | 'even' | 'odd';
      stopBits?: 1 | 2;
      dataBits?: 7 | 8;
    };

export interface ModbusClientOptions {
  transport: Transport;
  timeoutMs?: number;
  /** When true every write is refused before it reaches the wire. */
  readOnly?: boolean;
  /** Unit ids on this line that are read-only (a shared RS-485 bus or gateway with mixed devices). */
  readOnlyUnits?: Iterable<number>;
}

export const MAX_READ_REGISTERS = 125;
export const MAX_WRITE_REGISTERS = 123;

export class ModbusClient implements RegisterIO {
  readonly endpoint: string;
  private readonly client = new ModbusRTU();
  private queue: Promise<unknown> = Promise.resolve();
  private connecting?: Promise<void>;
  private readonly timeoutMs: number;
  private readonly readOnlyUnits: Set<number>;

  constructor(private readonly opts: ModbusClientOptions) {
    this.readOnlyUnits = new Set(opts.readOnlyUnits ?? []);
    const t = opts.transport;
    this.endpoint = t.kind === 'tcp' ? `tcp://${t.host}:${t.port}` : `rtu://${t.path}@${t.baudRate}`;
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.client.setTimeout(this.timeoutMs);
  }

  get readOnly(): boolean {
    return this.opts.readOnly === true;
  }

  get isOpen(): boolean {
    return this.client.isOpen;
  }

  /** Connects (or reconnects after a drop). Concurrent callers share one attempt. */
  async connect(): Promise<void> {
    if (this.client.isOpen) return;
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const t = this.opts.transport;
    try {
      if (t.kind === 'tcp') {
        await this.client.connectTCP(t.host, { port: t.port, timeout: this.timeoutMs } as never);
        // Modbus is request/response with tiny frames: Nagle only adds latency.
        (
          this.client as unknown as { _port?: { _client?: { setNoDelay?(b: boolean): void } } }
        )._port?._client?.setNoDelay?.(true);
      } else {
        await this.client.connectRTUBuffered(t.path, {
          baudRate: t.baudRate,
          parity: t.parity ?? 'none',
          stopBits: t.stopBits ?? 1,
          dataBits: t.dataBits ?? 8,
        });
      }
    } catch (err) {
      throw new ModbusError(
        `${this.endpoint}: cannot connect: ${(err as Error).message}`,
        'connection',
        0,
        0,
      );
    }
  }

  async close(): Promise<void> {
    if (!this.client.isOpen) return;
    await new Promise<void>((resolve) => this.client.close(() => resolve()));
  }

  readHolding(unit: number, address: number, length: number): Promise<number[]> {
    if (length < 1 || length > MAX_READ_REGISTERS) {
      return Promise.reject(
        new ModbusError(
          `${this.endpoint} unit ${unit}: read of ${length} registers at ${address}: 1..${MAX_READ_REGISTERS} allowed`,
          'exception',
          unit,
          address,
          3,
        ),
      );
    }
    return this.transaction(
      unit,
      address,
      length,
      'read',
      async () => (await this.client.readHoldingRegisters(address, length)).data,
    );
  }

  /** Marks one unit read-only from now on (cannot be undone: read-only is a safety property). */
  setUnitReadOnly(unit: number): void {
    this.readOnlyUnits.add(unit);
  }

  isReadOnly(unit: number): boolean {
    return this.readOnly || this.readOnlyUnits.has(unit);
  }

  writeHolding(unit: number, address: number, values: number[], opts: WriteOptions = {}): Promise<void> {
    if (this.isReadOnly(unit)) {
      return Promise.reject(
        new ModbusError(
          `${this.endpoint} unit ${unit}: write to ${address} refused: device is configured read-only`,
          'read-only',
          unit,
          address,
        ),
      );
    }
    if (values.length < 1 || values.length > MAX_WRITE_REGISTERS) {
      return Promise.reject(
        new ModbusError(
          `${this.endpoint} unit ${unit}: write of ${values.length} registers: 1..${MAX_WRITE_REGISTERS} allowed`,
          'exception',
          unit,
          address,
          3,
        ),
      );
    }
    return this.transaction(unit, address, values.length, 'write', async () => {
      // The line may have been busy or down for a while (a frozen device): the caller's command may
      // have expired since it queued this write.
      if (opts.stillWanted && !opts.stillWanted())
        throw new ModbusError(
          `${this.endpoint} unit ${unit}: write to ${address} dropped: no longer wanted when the line was free`,
          'not-wanted',
          unit,
          address,
        );
      await this.client.writeRegisters(address, values);
    });
  }

  /** Runs one Modbus transaction after the previous one finished (a single line, one master). */
  private transaction<T>(
    unit: number,
    address: number,
    length: number,
    op: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    const run = async () => {
      await this.connect();
      this.client.setID(unit);
      try {
        return await fn();
      } catch (err) {
        if (err instanceof ModbusError) throw err;
        throw this.describeError(err, unit, address, length, op);
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private describeError(
    err: unknown,
    unit: number,
    address: number,
    length: number,
    op: string,
  ): ModbusError {
    const e = err as { name?: string; message?: string; modbusCode?: number; errno?: string };
    const where = `${this.endpoint} unit ${unit} ${op} ${address}+${length}`;
    if (typeof e.modbusCode === 'number') {
      return new ModbusError(
        `${where}: Modbus exception ${e.modbusCode} (${EXCEPTION_NAMES[e.modbusCode] ?? 'unknown'})`,
        'exception',
        unit,
        address,
        e.modbusCode,
      );
    }
    if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT') {
      return new ModbusError(`${where}: no response within ${this.timeoutMs} ms`, 'timeout', unit, address);
    }
    return new ModbusError(`${where}: ${e.message ?? String(err)}`, 'connection', unit, address);
  }
}

const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  6: 'server device busy',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};
