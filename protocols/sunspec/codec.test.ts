import assert from 'node:assert/strict';
import { decodeModel, encodeModel, encodeWrite, SunSpecCodecError } from './codec.ts';
import { getModel } from './models/index.ts';

const m103 = getModel(103)!;
const m123 = getModel(123)!;
const m705 = getModel(705)!;
const m1 = getModel(1)!;

function inverter103(overrides: Record<string, number | undefined> = {}) {
  return encodeModel(m103, {
    values: {
      A: 21.7,
      AphA: 7.2,
      AphB: 7.3,
      AphC: 7.2,
      A_SF: -1,
      PhVphA: 230.1,
      PhVphB: 229.8,
      PhVphC: 231.0,
      V_SF: -1,
      W: 5000,
      W_SF: 0,
      Hz: 50.02,
      Hz_SF: -2,
      WH: 123456000,
      WH_SF: 3,
      St: 4,
      ...overrides,
    },
  });
}

describe('SunSpec codec', () => {
  it('decodes scaled values, ids and lengths', () => {
    const regs = inverter103();
    assert.equal(regs.length, 52);
    const d = decodeModel(m103, regs);
    assert.equal(d.id, 103);
    assert.equal(d.length, 50);
    assert.equal(d.values.A, 21.7);
    assert.equal(d.values.PhVphA, 230.1);
    assert.equal(d.values.W, 5000);
    assert.equal(d.values.Hz, 50.02);
    assert.equal(d.values.WH, 123456000);
    assert.equal(d.values.St, 4);
    assert.deepEqual(d.issues, []);
  });

  it('maps "not implemented" sentinels to absent values, never numbers', () => {
    const d = decodeModel(m103, inverter103());
    // VA, VAr, PF, DCA were not set: the encoder wrote sentinels (int16 0x8000, uint16 0xFFFF).
    assert.equal(d.values.VA, undefined);
    assert.equal(d.values.VAr, undefined);
    assert.equal(d.values.DCA, undefined);
    assert.ok('VA' in d.values);
  });

  it('withholds values whose scale factor is absent or garbage, naming the point', () => {
    const regs = inverter103();
    const aSfOffset = 2 + 4; // ID, L, A, AphA, AphB, AphC → A_SF
    regs[aSfOffset] = 0x7fff; // scale factor 32767: garbage
    const d = decodeModel(m103, regs);
    assert.equal(d.values.A, undefined);
    assert.equal(d.values.AphA, undefined);
    assert.equal(d.values.W, 5000, 'other points unaffected');
    assert.ok(d.issues.some((i) => i.path === 'A_SF' && /outside -10\.\.10/.test(i.message)));
    assert.ok(d.issues.some((i) => i.path === 'A' && /unknown/.test(i.message)));

    regs[aSfOffset] = 0x8000; // not implemented
    assert.equal(decodeModel(m103, regs).values.A, undefined);
  });

  it('decodes signed, 32-bit and string points', () => {
    const d = decodeModel(m103, inverter103({ W: -1500 }));
    assert.equal(d.values.W, -1500);
    const common = encodeModel(m1, {
      values: { Mn: 'gridlayer', Md: 'SIM-PV-10', SN: 'PV0001', Vr: '1.2.3', DA: 1 },
    });
    assert.equal(common.length, 68);
    const c = decodeModel(m1, common);
    assert.equal(c.values.Mn, 'gridlayer');
    assert.equal(c.values.SN, 'PV0001');
    assert.equal(c.values.Opt, undefined, 'all-zero string is absent');
  });

  it('reports truncated models point by point instead of failing', () => {
    const regs = inverter103().slice(0, 20);
    const d = decodeModel(m103, regs);
    assert.equal(d.values.A, 21.7);
    assert.equal(d.values.WH, undefined);
    assert.ok(d.issues.some((i) => i.path === 'WH' && /truncated/.test(i.message)));
  });

  it('refuses a block that is not the model it claims', () => {
    assert.throws(() => decodeModel(m103, [101, 50, 0]), SunSpecCodecError);
  });

  it('decodes nested repeating groups with counts from enclosing groups (705 volt-var)', () => {
    const curve = (v: number) => ({
      values: { ActPt: 2, DeptRef: 1, ReadOnly: 0 },
      groups: { Pt: [{ values: { V: 92, Var: 30 + v } }, { values: { V: 108, Var: -30 - v } }] },
    });
    const regs = encodeModel(m705, {
      values: { Ena: 1, NPt: 2, NCrv: 2, V_SF: 0, DeptRef_SF: 0, RspTms_SF: 0 },
      groups: { Crv: [curve(0), curve(5)] },
    });
    const d = decodeModel(m705, regs);
    assert.equal(d.groups.Crv.length, 2);
    assert.equal(d.groups.Crv[1].groups.Pt[1].values.Var, -35);
    assert.equal(d.groups.Crv[0].groups.Pt[0].values.V, 92);

    const w = encodeWrite(m705, regs, 'Crv[1].Pt[1].Var', -20);
    const patched = [...regs];
    patched.splice(w.offset, w.registers.length, ...w.registers);
    assert.equal(decodeModel(m705, patched).groups.Crv[1].groups.Pt[1].values.Var, -20);
    assert.equal(
      decodeModel(m705, patched).groups.Crv[0].groups.Pt[1].values.Var,
      -30,
      'neighbour untouched',
    );
  });

  describe('encoding writes', () => {
    const controls = encodeModel(m123, {
      values: { WMaxLimPct: 100, WMaxLimPct_SF: -1, WMaxLim_Ena: 0, Conn: 1 },
    });

    it('scales a write with the scale factor in effect', () => {
      const w = encodeWrite(m123, controls, 'WMaxLimPct', 55.5);
      assert.deepEqual(w.registers, [555]);
      const patched = [...controls];
      patched.splice(w.offset, 1, ...w.registers);
      assert.equal(decodeModel(m123, patched).values.WMaxLimPct, 55.5);
    });

    it('refuses read-only points, out-of-range values and unknown scale factors', () => {
      assert.throws(() => encodeWrite(m103, inverter103(), 'W', 10), /W is read-only/);
      assert.throws(() => encodeWrite(m123, controls, 'WMaxLimPct', 7000), /out of range/);
      assert.throws(() => encodeWrite(m123, controls, 'WMaxLimPct', 50.55), /not representable/);
      assert.throws(() => encodeWrite(m123, controls, 'WMaxLim_Ena', 7), /not one of/);
      assert.throws(() => encodeWrite(m123, controls, 'NoSuchPoint', 1), /no point/);
      const noSf = encodeModel(m123, { values: { WMaxLimPct: 100, WMaxLim_Ena: 0 } });
      assert.throws(() => encodeWrite(m123, noSf, 'WMaxLimPct', 50), /scale factor WMaxLimPct_SF .* unknown/);
    });
  });
});
