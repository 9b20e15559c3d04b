import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessLevelFlag,
  AttributeIds,
  type ClientSession,
  DataType,
  OPCUACertificateManager,
  OPCUAClient,
  StatusCodes,
  Variant,
} from 'node-opcua';
import { freePort } from '../test-support/ports.ts';
import { BESS_NODES, OpcuaBattery } from './opcua-battery.ts';

/** The simulated BESS as a plain node-opcua client sees it (not through the edge driver). */
describe('simulated OPC UA BESS: honest access levels and refused writes', function () {
  this.timeout(60_000);
  let dir: string;
  let bess: OpcuaBattery;
  let client: OPCUAClient;
  let session: ClientSession;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-uasim-'));
    bess = new OpcuaBattery({
      port: await freePort(),
      pkiDir: dir,
      setpointType: 'Int32',
      initialSocPct: 55,
    });
    await bess.start();
    client = OPCUAClient.create({
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 1 },
      clientCertificateManager: new OPCUACertificateManager({ rootFolder: join(dir, 'client-pki') }),
    });
    await client.connect(bess.endpoint);
    session = await client.createSession();
  });
  after(async () => {
    await session?.close();
    await client?.disconnect();
    await bess?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const attr = async (nodeId: string, attributeId: AttributeIds) =>
    (await session.read({ nodeId, attributeId })).value.value;
  const write = (nodeId: string, dataType: DataType, value: number) =>
    session.write({
      nodeId,
      attributeId: AttributeIds.Value,
      value: { value: new Variant({ dataType, value }) },
    });

  const readOnly = [
    BESS_NODES.soc,
    BESS_NODES.p,
    BESS_NODES.q,
    BESS_NODES.status,
    BESS_NODES.chargeMax,
    BESS_NODES.dischargeMax,
    BESS_NODES.capacity,
    BESS_NODES.manufacturer,
    BESS_NODES.model,
    BESS_NODES.serial,
  ];

  it('advertises measurements and nameplate as read-only, setpoints as writable', async () => {
    for (const node of readOnly) {
      for (const a of [AttributeIds.AccessLevel, AttributeIds.UserAccessLevel]) {
        const level = Number(await attr(node, a));
        assert.ok(level & AccessLevelFlag.CurrentRead, `${node} readable`);
        assert.equal(level & AccessLevelFlag.CurrentWrite, 0, `${node} must not advertise CurrentWrite`);
      }
    }
    for (const node of [BESS_NODES.pSet, BESS_NODES.qSet, BESS_NODES.revertS]) {
      const level = Number(await attr(node, AttributeIds.UserAccessLevel));
      assert.ok(level & AccessLevelFlag.CurrentWrite, `${node} writable`);
    }
  });

  it('refuses a write to a read-only node with a Bad status and keeps its value', async () => {
    const status = await write(BESS_NODES.soc, DataType.Double, 5);
    assert.equal(status.isGood(), false);
    assert.equal(status.name, StatusCodes.BadNotWritable.name);
    assert.equal(await attr(BESS_NODES.soc, AttributeIds.Value), 55);
    const st = await write(BESS_NODES.status, DataType.Int32, 4);
    assert.equal(st.name, StatusCodes.BadNotWritable.name);
  });

  it('declares the setpoint DataTypes and refuses a value of another type', async () => {
    assert.equal(await session.getBuiltInDataType(BESS_NODES.pSet as never), DataType.Int32);
    assert.equal(await session.getBuiltInDataType(BESS_NODES.revertS as never), DataType.UInt16);
    const status = await write(BESS_NODES.pSet, DataType.Double, 1000);
    assert.equal(status.name, StatusCodes.BadTypeMismatch.name);
    assert.equal(bess.pSetW, 0, 'a refused write changes nothing');
  });

  it('refuses a setpoint beyond the rating with BadOutOfRange, accepts one within it', async () => {
    // Rated 20 kW each way (the default): 25 kW cannot be followed.
    const refused = await write(BESS_NODES.pSet, DataType.Int32, 25_000);
    assert.equal(refused.name, StatusCodes.BadOutOfRange.name);
    assert.equal(bess.pSetW, 0);
    const ok = await write(BESS_NODES.pSet, DataType.Int32, -4000);
    assert.equal(ok.isGood(), true);
    assert.equal(bess.pSetW, -4000);
    assert.equal(await attr(BESS_NODES.pSet, AttributeIds.Value), -4000);
    const revert = await write(BESS_NODES.revertS, DataType.UInt16, 45);
    assert.equal(revert.isGood(), true);
    assert.equal(bess.revertS, 45);
  });
});
