/**
 * OPC UA device driver (node-opcua). Values arrive through one subscription with a monitored item per
 * mapped node — no polling — and `poll()` serves the latest values. Security None or Basic256Sha256
 * (Sign / SignAndEncrypt) with the client's own certificate store; node-opcua reconnects and restores
 * the session after a drop, and if it gives up the scheduler reopens the driver with back-off.
 */
import { join } from 'node:path';
import { format } from 'node:util';
import {
  AttributeIds,
  ClientMonitoredItem,
  type ClientSession,
  ClientSubscription,
  DataType,
  type DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  setWarningLogger,
  TimestampsToReturn,
  UserTokenType,
  Variant,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { CanonicalPoint, DeviceKind, Nameplate } from '../../protocols/canonical/points.ts';
import type { CommandType } from '../../protocols/mqtt/payloads.ts';
import type { OpcuaDeviceConfig } from '../config.ts';
import { plausible } from './normalize.ts';
import {
  type Applied,
  controlOf,
  type DeviceDriver,
  type DeviceIdentity,
  type Reading,
  type Setpoint,
} from './types.ts';

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
      this.session = await client.createSession(
        cfg.username
          ? { type: UserTokenType.UserName, userName: cfg.username, password: cfg.password ?? '' }
          : undefined,
      );
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      this.client = undefined;
      throw err;
    }
    const session = this.session;
    const readNum = async (node?: string) => {
      if (!node) return undefined;
      const dv = await session.read({ nodeId: node, attributeId: AttributeIds.Value });
      const x = Number(dv.value?.value);
      return dv.statusCode.isGood() && Number.isFinite(x) ? x : undefined;
    };
    const readStr = async (node?: string) => {
      if (!node) return undefined;
      const dv = await session.read({ nodeId: node, attributeId: AttributeIds.Value });
      return dv.statusCode.isGood() && typeof dv.value?.value === 'string' ? dv.value.value : undefined;
    };
    const np: Nameplate = {};
    for (const [k, node] of Object.entries(cfg.nameplate) as Array<[keyof Nameplate, string]>) {
      const x = await readNum(node);
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
      item.on('changed', (dv: DataValue) => {
        const x = Number(dv.value?.value);
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

  private async write(node: string, value: number | boolean): Promise<void> {
    const session = this.session;
    if (!session) throw new Error(`${this.id}: not connected`);
    const variant =
      typeof value === 'boolean'
        ? new Variant({ dataType: DataType.Boolean, value })
        : new Variant({ dataType: DataType.Double, value });
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

  async apply(sp: Setpoint): Promise<Applied> {
    if (!this.isOpen) await this.open();
    if (!this.controls.includes(controlOf(sp))) throw new Error(`${this.id} does not accept ${sp.type}`);
    const sps = this.cfg.setpoints;
    if (sp.type === 'battery_power' && sps.battery_power) {
      await this.write(sps.battery_power, sp.w);
      return { w: Number(await this.readBack(sps.battery_power)) };
    }
    if (sp.type === 'active_power_limit' && sps.active_power_limit) {
      await this.write(sps.active_power_limit, sp.w);
      return { w: Number(await this.readBack(sps.active_power_limit)) };
    }
    if (sp.type === 'connect' && sps.connect) {
      await this.write(sps.connect, sp.connected);
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
    await subscription?.terminate().catch(() => undefined);
    await session?.close().catch(() => undefined);
    await client?.disconnect().catch(() => undefined);
  }
}
