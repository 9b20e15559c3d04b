/**
 * Simulated three-phase PV inverter. Exposes the legacy view (1, 103, 120, 121, 123) and the IEEE
 * 1547-2018 view (701, 702, 704, 705) over one state, so both always agree. Output follows clear-sky
 * PV for the site's location and simulated time (optionally with seeded clouds) and is curtailed by
 * the active-power limit of 123 (WMaxLimPct) or 704 (WMaxLimPct), which revert after their timeout.
 */
import { CloudModel, clearSkyGhi, solarElevationDeg } from './physics/solar.ts';
import { RevertTimer, range, type SimModel, SimSunSpecDevice } from './sunspec-device.ts';

export interface PvInverterOptions {
  ratedW?: number;
  lat?: number;
  lon?: number;
  /** Seeded cloud variability; absent = clear sky. */
  rand?: () => number;
  serial?: string;
}

const NOMINAL_V = 230;
const NOMINAL_HZ = 50;

export class PvInverter extends SimSunSpecDevice {
  readonly ratedW: number;
  private readonly lat: number;
  private readonly lon: number;
  private readonly clouds?: CloudModel;
  private readonly limitRevert123 = new RevertTimer();
  private readonly limitRevert704 = new RevertTimer();
  /** AC output now, W (positive = generation). */
  acW = 0;
  /** Power the array could deliver now, before curtailment. */
  availableW = 0;
  private whOut = 0;

  constructor(opts: PvInverterOptions = {}) {
    const ratedW = opts.ratedW ?? 10000;
    super([
      {
        id: 1,
        input: {
          values: { Mn: 'gridlayer', Md: 'SIM-PV-3P', Vr: '1.0.0', SN: opts.serial ?? 'PV-000001', DA: 1 },
        },
      },
      {
        id: 103,
        input: {
          values: {
            A_SF: -2,
            V_SF: -1,
            W_SF: 0,
            Hz_SF: -2,
            VA_SF: 0,
            VAr_SF: 0,
            PF_SF: -2,
            WH_SF: 0,
            DCA_SF: -2,
            DCV_SF: -1,
            DCW_SF: 0,
            Tmp_SF: -1,
            St: 2,
          },
        },
      },
      {
        id: 120,
        input: {
          values: {
            DERTyp: 4,
            WRtg: ratedW,
            WRtg_SF: 0,
            VARtg: ratedW,
            VARtg_SF: 0,
            VArRtgQ1: ratedW * 0.44,
            VArRtgQ4: -ratedW * 0.44,
            VArRtg_SF: 0,
            ARtg: ratedW / (3 * NOMINAL_V),
            ARtg_SF: -2,
          },
        },
      },
      {
        id: 121,
        input: {
          values: {
            WMax: ratedW,
            VRef: NOMINAL_V,
            VRefOfs: 0,
            VMax: 253,
            VMin: 207,
            VAMax: ratedW,
            WMax_SF: 0,
            VRef_SF: 0,
            VRefOfs_SF: 0,
            VMinMax_SF: 0,
            VAMax_SF: 0,
          },
        },
      },
      {
        id: 123,
        input: {
          values: {
            Conn: 1,
            WMaxLimPct: 100,
            WMaxLimPct_RvrtTms: 0,
            WMaxLim_Ena: 0,
            WMaxLimPct_SF: -1,
            OutPFSet_SF: -3,
            VArPct_SF: -1,
          },
        },
      },
      {
        id: 701,
        input: {
          values: {
            ACType: 2,
            St: 1,
            InvSt: 1,
            ConnSt: 1,
            A_SF: -2,
            V_SF: -1,
            Hz_SF: -3,
            W_SF: 0,
            PF_SF: -3,
            VA_SF: 0,
            Var_SF: 0,
            TotWh_SF: 0,
            TotVarh_SF: 0,
            Tmp_SF: -1,
          },
        },
      },
      {
        id: 702,
        input: {
          values: {
            WMaxRtg: ratedW,
            VAMaxRtg: ratedW,
            VarMaxInjRtg: ratedW * 0.44,
            VarMaxAbsRtg: ratedW * 0.44,
            VNomRtg: NOMINAL_V,
            VMaxRtg: 253,
            VMinRtg: 207,
            WMax: ratedW,
            VAMax: ratedW,
            VarMaxInj: ratedW * 0.44,
            VarMaxAbs: ratedW * 0.44,
            VNom: NOMINAL_V,
            VMax: 253,
            VMin: 207,
            W_SF: 0,
            PF_SF: -3,
            VA_SF: 0,
            Var_SF: 0,
            V_SF: 0,
            A_SF: -2,
            S_SF: 0,
          },
        },
      },
      {
        id: 704,
        input: {
          values: {
            WMaxLimPctEna: 0,
            WMaxLimPct: 100,
            WMaxLimPctRvrt: 100,
            WMaxLimPctEnaRvrt: 0,
            WMaxLimPctRvrtTms: 0,
            WMaxLimPctRvrtRem: 0,
            PF_SF: -3,
            WMaxLimPct_SF: -1,
            WSet_SF: 0,
            WSetPct_SF: -1,
            VarSet_SF: 0,
            VarSetPct_SF: -1,
          },
          groups: {
            PFWInj: [{ values: {} }],
            PFWInjRvrt: [{ values: {} }],
            PFWAbs: [{ values: {} }],
            PFWAbsRvrt: [{ values: {} }],
          },
        },
      },
      {
        id: 705,
        input: {
          values: {
            Ena: 0,
            AdptCrvReq: 0,
            AdptCrvRslt: 0,
            NPt: 4,
            NCrv: 1,
            RvrtTms: 0,
            V_SF: 0,
            DeptRef_SF: 0,
            RspTms_SF: 0,
          },
          groups: {
            Crv: [
              {
                values: { ActPt: 4, DeptRef: 1, Pri: 1, VRef: 100, ReadOnly: 1 },
                groups: {
                  Pt: [
                    { values: { V: 92, Var: 30 } },
                    { values: { V: 98, Var: 0 } },
                    { values: { V: 102, Var: 0 } },
                    { values: { V: 108, Var: -30 } },
                  ],
                },
              },
            ],
          },
        },
      },
    ]);
    this.ratedW = ratedW;
    this.lat = opts.lat ?? 52.37;
    this.lon = opts.lon ?? 4.9;
    if (opts.rand) this.clouds = new CloudModel(opts.rand);
    this.validators.push(
      range(123, 'WMaxLimPct', 0, 100),
      range(704, 'WMaxLimPct', 0, 100),
      range(704, 'WMaxLimPctRvrt', 0, 100),
    );
    this.tick(Date.now(), 0);
  }

  /** Limit in effect, % of rated power (both control views mirror each other). */
  limitPct(): number {
    const m704 = this.model(704);
    return m704.get('WMaxLimPctEna') === 1 ? ((m704.get('WMaxLimPct') as number | undefined) ?? 100) : 100;
  }

  protected override onWrite(model: SimModel, point: string): void {
    const now = this.lastTick;
    if (model.id === 123 && (point === 'WMaxLimPct' || point === 'WMaxLim_Ena')) {
      // Mirror into the 1547 view so both report one state.
      this.model(704).setMany({
        WMaxLimPct: model.get('WMaxLimPct'),
        WMaxLimPctEna: model.get('WMaxLim_Ena'),
      });
      this.limitRevert123.arm(now, model.get('WMaxLimPct_RvrtTms') as number | undefined);
    }
    if (model.id === 704 && (point === 'WMaxLimPct' || point === 'WMaxLimPctEna')) {
      this.model(123).setMany({
        WMaxLimPct: model.get('WMaxLimPct'),
        WMaxLim_Ena: model.get('WMaxLimPctEna'),
      });
      this.limitRevert704.arm(now, model.get('WMaxLimPctRvrtTms') as number | undefined);
    }
  }

  private lastTick = Date.now();

  tick(nowMs: number, dtS: number): void {
    this.lastTick = nowMs;
    const m123 = this.model(123);
    const m704 = this.model(704);
    if (this.limitRevert123.expired(nowMs)) {
      m123.set('WMaxLim_Ena', 0);
      m704.set('WMaxLimPctEna', 0);
    }
    if (this.limitRevert704.expired(nowMs)) {
      const pct = m704.get('WMaxLimPctRvrt') as number | undefined;
      const ena = m704.get('WMaxLimPctEnaRvrt') as number | undefined;
      m704.setMany({ WMaxLimPct: pct ?? 100, WMaxLimPctEna: ena ?? 0 });
      m123.setMany({ WMaxLimPct: pct ?? 100, WMaxLim_Ena: ena ?? 0 });
    }
    m704.set('WMaxLimPctRvrtRem', this.limitRevert704.remaining(nowMs) ?? 0);

    const elev = solarElevationDeg(nowMs, this.lat, this.lon);
    const cloud = this.clouds ? this.clouds.step(dtS) : 1;
    // 1000 W/m² at STC; 0.9 for temperature and wiring losses.
    this.availableW = Math.min(this.ratedW, (this.ratedW * clearSkyGhi(elev) * cloud * 0.9) / 1000);
    const connected = m123.get('Conn') !== 0;
    const limitW = (this.limitPct() / 100) * this.ratedW;
    this.acW = connected ? Math.round(Math.min(this.availableW, limitW)) : 0;
    this.whOut += (this.acW * dtS) / 3600;

    const throttled = connected && this.availableW > limitW + 1;
    const v = NOMINAL_V + this.acW * 0.0004;
    const hz = NOMINAL_HZ + Math.sin(nowMs / 60000) * 0.02;
    const a = this.acW / (3 * v);
    const st103 = !connected ? 1 : this.acW <= 0 ? 2 : throttled ? 5 : 4;
    const st701 = !connected ? 0 : this.acW <= 0 ? 1 : throttled ? 4 : 3;
    const wh = Math.round(this.whOut);
    this.model(103).setMany({
      A: a,
      AphA: a,
      AphB: a,
      AphC: a,
      PhVphA: v,
      PhVphB: v,
      PhVphC: v,
      W: this.acW,
      Hz: hz,
      VA: this.acW,
      VAr: 0,
      PF: this.acW > 0 ? 1 : undefined,
      WH: wh > 0 ? wh : undefined,
      DCW: this.acW > 0 ? Math.round(this.acW / 0.97) : 0,
      TmpCab: 25 + this.acW / 500,
      St: st103,
    });
    this.model(701).setMany({
      St: connected ? 1 : 0,
      InvSt: st701,
      ConnSt: connected ? 1 : 0,
      W: this.acW,
      VA: this.acW,
      Var: 0,
      PF: this.acW > 0 ? 1 : undefined,
      A: a * 3,
      LNV: v,
      Hz: hz,
      TotWhInj: wh > 0 ? wh : undefined,
      TotWhAbs: undefined,
      TmpCab: 25 + this.acW / 500,
      WL1: this.acW / 3,
      WL2: this.acW / 3,
      WL3: this.acW / 3,
      VL1: v,
      VL2: v,
      VL3: v,
      ThrotPct: throttled ? this.limitPct() : 100,
    });
  }
}
