/**
 * OPC UA device driver (node-opcua). Values arrive through one subscription with a monitored item per
 * mapped node — no polling — and `poll()` serves the latest values. Security None or Basic256Sha256
 * (Sign / SignAndEncrypt) with the client's own certificate store; node-opcua reconnects and restores
 * the session after a drop, and if it gives up the scheduler reopens the driver with back-off.
 * Writes use each node's own DataType; `scale` maps device units to canonical ones per point, and a
 * nameplate rating may be a node or a static number from the data sheet.
 */
import { join } from 'node:path';
import { format } from 'node:util';
import {
  AttributeIds,
  ClientMonitoredItem,
  type ClientSession,
  ClientSubscription,
  type DataType,
  type DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  resolveNodeId,
  SecurityPolicy,
  setWarningLogger,
  TimestampsToReturn,
  UserTokenType,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { CanonicalPoint, DeviceKind, Nameplate } from '../../protocols/canonical/points.ts';
import type { CommandType } from '../../protocols/mqtt/payloads.ts';
import type { OpcuaDeviceConfig } from '../config.ts';
import { within } from '../within.ts';
import { plausible } from './normalize.ts';
import { encodeForNode, numberOf } from './opcua-values.ts';
import {
  type Applied,
  type ApplyOptions,
  controlOf,
  type DeviceDriver,
  type DeviceIdentity,
  type Reading,
  type Setpoint,
  SetpointExpiredError,
} from './types.ts';

/** Bound on each close step (subscription, session, connection): close() takes at most 3 × this. */
export const CLOSE_STEP_MS = 1000;

const POLICY = { None: SecurityPolicy.None, Basic256Sha256: SecurityPolicy.Basic256Sha256 } as const;
const MODE = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
} as const;

export class OpcuaDriver implements DeviceDriver {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly protocol = 'opcua' as const;
  identity: DeviceIdentity = {};
  nameplate: Nameplate = {};
  readonly controls: CommandType[];
  readonly revertS: number;
  private client?: OPCUAClient;
  private session?: ClientSession;
  private subscription?: ClientSubscription;
  private readonly values = new Map<CanonicalPoint, { value: number; good: boolean; at: number }>();
  /** Each written node's built-in DataType, read once per connection. */
  private readonly dataTypes = new Map<string, DataType>();
  private lost = false;
  isOpen = false;

  constructor(
    private readonly cfg: OpcuaDeviceConfig,
    private readonly log: Logger,
  ) {
    this.id = cfg.id;
    this.kind = cfg.kind;
    this.revertS = cfg.revertS;
    const c: CommandType[] = [];
    if (!cfg.readOnly) {
      if (cfg.setpoints.battery_power) c.push('battery_power');
      if (cfg.setpoints.active_power_limit) c.push('active_power_limit');
      if (cfg.setpoints.connect) c.push('connect');
    }
    this.controls = c;
    // node-opcua prints its warnings to the console; route them into our structured log instead.
    setWarningLogger((data, ...args) => log.debug({ opcua: format(data, ...args) }, 'node-opcua warning'));
  }

  async open(): Promise<void> {
    await this.close();
    const cfg = this.cfg;
    const pki = cfg.pkiDir ?? join(process.env.STATE_DIRECTORY ?? '/var/lib/gridlayer', 'opcua-pki');
    const client = OPCUAClient.create({
      applicationName: 'gridlayer-edge',
      endpointMustExist: false,
      securityPolicy: POLICY[cfg.securityPolicy],
      securityMode: MODE[cfg.securityMode],
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
      connectionStrategy: { maxRetry: 5, initialDelay: 500, maxDelay: 5000 },
      ...(cfg.securityPolicy !== 'None' && {
        clientCertificateManager: new OPCUACertificateManager({
          rootFolder: join(pki, 'client'),
          automaticallyAcceptUnknownCertificate: true,
        }),
      }),
    });
    client.on('connection_lost', () => {
      this.lost = true;
      this.log.warn({ device: this.id }, 'OPC UA connection lost');
    });
    client.on('connection_reestablished', () => {
      this.lost = false;
      this.log.info({ device: this.id }, 'OPC UA connection re-established');
    });
    client.on('close', () => {
      // node-opcua gave up reconnecting: let the scheduler reopen us with back-off.
      this.isOpen = false;
    });
    this.client = client;
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${cfg.endpoint}: no connection within ${cfg.timeoutMs * 10} ms`)),
        cfg.timeoutMs * 10,
      ).unref(),
    );
    try {
      await Promise.race([client.connect(cfg.endpoint), timeout]);
      const session = await client.createSession(
        cfg.username
          ? { type: UserTokenType.UserName, userName: cfg.username, password: cfg.password ?? '' }
          : undefined,
      );
      // close() ran while we were connecting (the agent is stopping): do not leave a session behind.
      if (this.client !== client) {
        await within(session.close(), CLOSE_STEP_MS);
        throw new Error(`${this.id}: closed while connecting`);
      }
      this.session = session;
    } catch (err) {
      await within(client.disconnect(), CLOSE_STEP_MS);
      if (this.client === client) this.client = undefined;
      throw err;
    }
    const session = this.session;
    this.dataTypes.clear(); // a restarted or replaced server may declare other types
    const readNum = async (node: string, key: string) => {
      const dv = await session.read({ nodeId: node, attributeId: AttributeIds.Value });
      const x = numberOf(dv.value?.value) * this.scaleOf(key);
      return dv.statusCode.isGood() && Number.isFinite(x) ? x : undefined;
    };
    const readStr = async (node?: string) => {
      if (!node) return undefined;
      const dv = await session.read({ nodeId: node, attributeId: AttributeIds.Value });
      return dv.statusCode.isGood() && typeof dv.value?.value === 'string' ? dv.value.value : undefined;
    };
    const np: Nameplate = {};
    for (const [k, entry] of Object.entries(cfg.nameplate) as Array<[keyof Nameplate, string | number]>) {
      const x = typeof entry === 'number' ? entry : await readNum(entry, k);
      if (x !== undefined && x > 0) np[k] = x;
    }
    this.nameplate = np;
    this.identity = {
      manufacturer: await readStr(cfg.identity.manufacturer),
      model: await readStr(cfg.identity.model),
      serial: await readStr(cfg.identity.serial),
    };
    if (cfg.revertNode && !cfg.readOnly && cfg.revertS > 0) await this.write(cfg.revertNode, cfg.revertS);
    const sub = ClientSubscription.create(session, {
      requestedPublishingInterval: cfg.samplingMs,
      requestedLifetimeCount: 120,
      requestedMaxKeepAliveCount: 10,
      maxNotificationsPerPublish: 1000,
      publishingEnabled: true,
      priority: 10,
    });
    this.subscription = sub;
    for (const [point, node] of Object.entries(cfg.points) as Array<[CanonicalPoint, string]>) {
      const item = ClientMonitoredItem.create(
        sub,
        { nodeId: node, attributeId: AttributeIds.Value },
        { samplingInterval: cfg.samplingMs, discardOldest: true, queueSize: 1 },
        TimestampsToReturn.Both,
      );
      const scale = this.scaleOf(point);
      item.on('changed', (dv: DataValue) => {
        const x = numberOf(dv.value?.value) * scale;
        this.values.set(point, {
          value: x,
          good: dv.statusCode.isGood() && Number.isFinite(x),
          at: Date.now(),
        });
      });
    }
    this.lost = false;
    this.isOpen = true;
  }

  async poll(): Promise<Reading> {
    if (!this.isOpen) await this.open();
    if (this.lost) throw new Error(`${this.cfg.endpoint}: OPC UA connection lost (reconnecting)`);
    const values: Reading['values'] = {};
    const quality: Reading['quality'] = {};
    for (const [point, v] of this.values) {
      if (!v.good || !plausible(point, v.value, this.nameplate, this.kind)) quality[point] = 'invalid';
      else values[point] = v.value;
    }
    return { ts: Date.now(), values, quality };
  }

  /** canonical = device value × scale, for a point, setpoint or nameplate key. */
  private scaleOf(key: string): number {
    return this.cfg.scale[key] ?? 1;
  }

  private async dataTypeOf(session: ClientSession, node: string): Promise<DataType> {
    let t = this.dataTypes.get(node);
    if (t === undefined) {
      try {
        t = await session.getBuiltInDataType(resolveNodeId(node));
      } catch (err) {
        throw new Error(`${this.id}: cannot read the DataType of ${node}: ${(err as Error).message}`);
      }
      this.dataTypes.set(node, t);
    }
    return t;
  }

  /** Writes a value in the node's own DataType; numbers are in device units (already scaled). */
  private async write(node: string, value: number | boolean, opts: ApplyOptions = {}): Promise<void> {
    const session = this.session;
    if (!session) throw new Error(`${this.id}: not connected`);
    const dataType = await this.dataTypeOf(session, node);
    // Learning the DataType may have waited on a slow server: never write an expired command late.
    if (opts.stillWanted && !opts.stillWanted()) throw new SetpointExpiredError(this.id);
    let variant: ReturnType<typeof encodeForNode>;
    try {
      variant = encodeForNode(node, dataType, value);
    } catch (err) {
      throw new Error(`${this.id}: ${(err as Error).message}`);
    }
    const status = await session.write({
      nodeId: node,
      attributeId: AttributeIds.Value,
      value: { value: variant },
    });
    if (!status.isGood()) throw new Error(`${this.id}: write to ${node} refused: ${status.name}`);
  }

  private async readBack(node: string): Promise<unknown> {
    const dv = await this.session?.read({ nodeId: node, attributeId: AttributeIds.Value });
    if (!dv?.statusCode.isGood()) throw new Error(`${this.id}: read-back of ${node} failed`);
    return dv.value.value;
  }

  async apply(sp: Setpoint, opts: ApplyOptions = {}): Promise<Applied> {
    if (!this.isOpen) await this.open();
    if (!this.controls.includes(controlOf(sp))) throw new Error(`${this.id} does not accept ${sp.type}`);
    const sps = this.cfg.setpoints;
    if (sp.type === 'battery_power' && sps.battery_power) {
      const k = this.scaleOf('battery_power');
      await this.write(sps.battery_power, sp.w / k, opts);
      return { w: numberOf(await this.readBack(sps.battery_power)) * k };
    }
    if (sp.type === 'active_power_limit' && sps.active_power_limit) {
      const k = this.scaleOf('active_power_limit');
      await this.write(sps.active_power_limit, sp.w / k, opts);
      return { w: numberOf(await this.readBack(sps.active_power_limit)) * k };
    }
    if (sp.type === 'connect' && sps.connect) {
      await this.write(sps.connect, sp.connected, opts);
      return { connected: Boolean(await this.readBack(sps.connect)) };
    }
    throw new Error(`${this.id} does not accept ${sp.type}`);
  }

  async close(): Promise<void> {
    this.isOpen = false;
    const { subscription, session, client } = this;
    this.subscription = undefined;
    this.session = undefined;
    this.client = undefined;
    // Each step bounded: a server that is gone (or frozen) never answers, and node-opcua waits for it.
    const steps = {
      subscription: subscription ? await within(subscription.terminate(), CLOSE_STEP_MS) : 'done',
      session: session ? await within(session.close(), CLOSE_STEP_MS) : 'done',
      channel: client ? await within(client.disconnect(), CLOSE_STEP_MS) : 'done',
    };
    if (Object.values(steps).some((r) => r !== 'done'))
      this.log.warn(
        { device: this.id, steps },
        'OPC UA close: steps failed or timed out (connection abandoned)',
      );
  }
}
