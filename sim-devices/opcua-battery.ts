/**
 * Simulated commercial battery storage system (BESS) behind an OPC UA server (node-opcua): state of
 * charge, active/reactive power, writable setpoints with a revert timeout, status and nameplate, under
 * `ns=1;s=BESS.*`. Security policies None and Basic256Sha256 (Sign, SignAndEncrypt); the server keeps
 * its own certificate store (PKI) in a folder the caller chooses (a temp dir in tests).
 *
 * Signs follow the canonical convention: P > 0 = discharge into the site bus.
 *
 * Access levels are honest: measurements and nameplate are read-only (a write answers BadNotWritable),
 * setpoints take only their declared DataType (else BadTypeMismatch) and a value the device cannot
 * follow answers BadOutOfRange and changes nothing. The setpoint revert timeout is a UInt16 (seconds).
 */
import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
} from 'node-opcua';

export interface OpcuaBatteryOptions {
  port: number;
  pkiDir: string;
  capacityWh?: number;
  maxChargeW?: number;
  maxDischargeW?: number;
  maxVar?: number;
  initialSocPct?: number;
  serial?: string;
  /** Real-time ms between physics steps. */
  tickMs?: number;
  /** Allowed user name/password; absent = anonymous allowed. */
  user?: { username: string; password: string };
  /** DataType of the P and Q setpoint nodes (real devices use integers as often as floats). */
  setpointType?: 'Double' | 'Float' | 'Int32' | 'UInt16';
  /** Unit of every power node (P, Q, setpoints, nameplate): many BESS controllers speak kW. */
  powerUnit?: 'W' | 'kW';
  /** false: no Nameplate PMaxCharge, PMaxDischarge, CapacityWh nodes (the client needs a static nameplate). */
  nameplateNodes?: boolean;
}

/** Status: 0 off, 1 standby, 2 running, 4 fault (the canonical `state` codes). */
export const BESS_NODES = {
  soc: 'ns=1;s=BESS.SoC',
  p: 'ns=1;s=BESS.P',
  q: 'ns=1;s=BESS.Q',
  status: 'ns=1;s=BESS.Status',
  pSet: 'ns=1;s=BESS.PSetpoint',
  qSet: 'ns=1;s=BESS.QSetpoint',
  revertS: 'ns=1;s=BESS.SetpointRevertS',
  chargeMax: 'ns=1;s=BESS.Nameplate.PMaxCharge',
  dischargeMax: 'ns=1;s=BESS.Nameplate.PMaxDischarge',
  capacity: 'ns=1;s=BESS.Nameplate.CapacityWh',
  manufacturer: 'ns=1;s=BESS.Nameplate.Manufacturer',
  model: 'ns=1;s=BESS.Nameplate.Model',
  serial: 'ns=1;s=BESS.Nameplate.SerialNumber',
} as const;

export class OpcuaBattery {
  readonly capacityWh: number;
  readonly maxChargeW: number;
  readonly maxDischargeW: number;
  socPct: number;
  pW = 0;
  qVar = 0;
  pSetW = 0;
  qSetVar = 0;
  revertS = 60;
  status = 1;
  private lastSetMs = Date.now();
  private lastTick = Date.now();
  private timer?: NodeJS.Timeout;
  server?: OPCUAServer;

  constructor(private readonly opts: OpcuaBatteryOptions) {
    this.capacityWh = opts.capacityWh ?? 50_000;
    this.maxChargeW = opts.maxChargeW ?? 20_000;
    this.maxDischargeW = opts.maxDischargeW ?? 20_000;
    this.socPct = opts.initialSocPct ?? 60;
  }

  get endpoint(): string {
    return `opc.tcp://127.0.0.1:${this.opts.port}/UA/BESS`;
  }

  tick(now = Date.now()): void {
    const dtH = Math.max(0, now - this.lastTick) / 3_600_000;
    this.lastTick = now;
    if (this.revertS > 0 && now - this.lastSetMs > this.revertS * 1000) {
      this.pSetW = 0; // revert timer: the device falls back on its own when the controller goes quiet
      this.qSetVar = 0;
    }
    let p = Math.max(-this.maxChargeW, Math.min(this.maxDischargeW, this.pSetW));
    if (p > 0 && this.socPct <= 5) p = 0;
    if (p < 0 && this.socPct >= 100) p = 0;
    this.pW = p;
    this.qVar = this.qSetVar;
    this.socPct = Math.min(100, Math.max(0, this.socPct - ((p * dtH) / this.capacityWh) * 100));
    this.status = p === 0 ? 1 : 2;
  }

  async start(): Promise<void> {
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: join(this.opts.pkiDir, 'server-pki'),
      automaticallyAcceptUnknownCertificate: true,
    });
    const user = this.opts.user;
    const server = new OPCUAServer({
      port: this.opts.port,
      hostname: '127.0.0.1',
      resourcePath: '/UA/BESS',
      serverCertificateManager,
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      allowAnonymous: !user,
      ...(user && {
        userManager: { isValidUser: (u: string, p: string) => u === user.username && p === user.password },
      }),
      buildInfo: {
        productName: 'gridlayer simulated BESS',
        manufacturerName: 'gridlayer',
        softwareVersion: '1.0.0',
      },
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error('OPC UA address space missing');
    const ns = addressSpace.getOwnNamespace();
    const bess = ns.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: 'BESS',
      nodeId: 's=BESS',
    });
    const np = ns.addObject({ componentOf: bess, browseName: 'Nameplate', nodeId: 's=BESS.Nameplate' });
    const ro = (parent: typeof bess, name: string, id: string, dataType: DataType, get: () => unknown) =>
      ns.addVariable({
        componentOf: parent,
        browseName: name,
        nodeId: id.replace('ns=1;', ''),
        dataType: DataType[dataType],
        minimumSamplingInterval: 100,
        accessLevel: 'CurrentRead',
        userAccessLevel: 'CurrentRead',
        value: { get: () => new Variant({ dataType, value: get() }) },
      });
    const rw = (
      name: string,
      id: string,
      dataType: DataType,
      get: () => number,
      set: (v: number) => boolean,
    ) =>
      ns.addVariable({
        componentOf: bess,
        browseName: name,
        nodeId: id.replace('ns=1;', ''),
        dataType: DataType[dataType],
        minimumSamplingInterval: 100,
        accessLevel: 'CurrentRead | CurrentWrite',
        userAccessLevel: 'CurrentRead | CurrentWrite',
        value: {
          get: () => new Variant({ dataType, value: get() }),
          set: (v: Variant) => {
            // node-opcua checks the DataType before calling us; this guards what it lets through.
            if (v.dataType !== dataType) return StatusCodes.BadTypeMismatch;
            const x = Number(v.value);
            if (!Number.isFinite(x) || !set(x)) return StatusCodes.BadOutOfRange;
            return StatusCodes.Good;
          },
        },
      });
    const k = this.opts.powerUnit === 'kW' ? 1000 : 1;
    const spType = DataType[this.opts.setpointType ?? 'Double'];
    const isInt = spType === DataType.Int32 || spType === DataType.UInt16;
    const toNode = (w: number) => (isInt ? Math.round(w / k) : w / k);
    ro(bess, 'SoC', BESS_NODES.soc, DataType.Double, () => Math.round(this.socPct * 100) / 100);
    ro(bess, 'P', BESS_NODES.p, DataType.Double, () => this.pW / k);
    ro(bess, 'Q', BESS_NODES.q, DataType.Double, () => this.qVar / k);
    ro(bess, 'Status', BESS_NODES.status, DataType.Int32, () => this.status);
    rw(
      'PSetpoint',
      BESS_NODES.pSet,
      spType,
      () => toNode(this.pSetW),
      (raw) => {
        const x = raw * k;
        if (x < -this.maxChargeW || x > this.maxDischargeW) return false;
        this.pSetW = x;
        this.lastSetMs = Date.now();
        this.tick();
        return true;
      },
    );
    rw(
      'QSetpoint',
      BESS_NODES.qSet,
      spType,
      () => toNode(this.qSetVar),
      (raw) => {
        const x = raw * k;
        const lim = this.opts.maxVar ?? this.maxDischargeW;
        if (Math.abs(x) > lim) return false;
        this.qSetVar = x;
        this.lastSetMs = Date.now();
        return true;
      },
    );
    rw(
      'SetpointRevertS',
      BESS_NODES.revertS,
      DataType.UInt16,
      () => this.revertS,
      (x) => {
        if (x < 0 || x > 86_400) return false;
        this.revertS = x;
        return true;
      },
    );
    if (this.opts.nameplateNodes !== false) {
      ro(np, 'PMaxCharge', BESS_NODES.chargeMax, DataType.Double, () => this.maxChargeW / k);
      ro(np, 'PMaxDischarge', BESS_NODES.dischargeMax, DataType.Double, () => this.maxDischargeW / k);
      ro(np, 'CapacityWh', BESS_NODES.capacity, DataType.Double, () => this.capacityWh);
    }
    ro(np, 'Manufacturer', BESS_NODES.manufacturer, DataType.String, () => 'gridlayer');
    ro(np, 'Model', BESS_NODES.model, DataType.String, () => 'SIM-BESS-OPCUA');
    ro(np, 'SerialNumber', BESS_NODES.serial, DataType.String, () => this.opts.serial ?? 'BESS-000001');
    await server.start();
    this.server = server;
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 200);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const s = this.server;
    this.server = undefined;
    if (s) await s.shutdown(0);
  }
}
