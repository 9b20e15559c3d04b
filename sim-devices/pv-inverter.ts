/**
 * Simulated three-phase PV inverter. Exposes the legacy view (1, 103, 120, 121, 123) and the IEEE
 * 1547-2018 view (701, 702, 704, 705) over one state, so both always agree. Output follows clear-sky
 * PV for the site's location and simulated time (optionally with seeded clouds) and is curtailed by
 * the active-power limit of 123 (WMaxLimPct) or 704 (WMaxLimPct), which revert after their timeout.
 * Reactive power follows one of three mutually exclusive modes (IEEE 1547-2018 §5.3): constant
 * reactive power (704 VarSet*), constant power factor (704 PFWInj*) or volt-var (705); enabling a
 * second mode while one is on is refused with exception 3, as devices that enforce exclusivity do.
 */
import { CloudModel, clearSkyGhi, solarElevationDeg } from './physics/solar.ts';
import { type ModelSpec, RevertTimer, range, type SimModel, SimSunSpecDevice } from './sunspec-device.ts';

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
/** Lowest power factor the inverter can run at (702 PFOvrExtRtg / PFUndExtRtg). */
const PF_MIN = 0.8;

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);

/** Linear interpolation on a curve of (x, y) points sorted by x; flat beyond the ends. */
function interpolate(pts: Array<[number, number]>, x: number): number {
  if (x <= pts[0][0]) return pts[0][1];
  for (let i = 1; i < pts.length; i++) {
    const [x0, y0] = pts[i - 1];
    const [x1, y1] = pts[i];
    if (x <= x1) return x1 === x0 ? y1 : y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
  }
  return pts[pts.length - 1][1];
}

/** The legacy view: common model 1 and the 1xx models 103, 120, 121, 123. */
function legacyModels(opts: PvInverterOptions, ratedW: number): ModelSpec[] {
  return [
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
  ];
}

/** The IEEE 1547-2018 view: 701, 702, 704 and the volt-var curve 705. */
function ieee1547Models(ratedW: number): ModelSpec[] {
  return [
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
          PFOvrExtRtg: PF_MIN,
          PFUndExtRtg: PF_MIN,
          PFOvrExt: PF_MIN,
          PFUndExt: PF_MIN,
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
  ];
}

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
  /** Reactive power now, var (positive = delivered, over-excited). */
  acVar = 0;
  /** Grid voltage at the terminals without the inverter's own rise, V (tests raise it for volt-var). */
  gridV = NOMINAL_V;
  private readonly varRevert = new RevertTimer();
  private readonly pfRevert = new RevertTimer();
  private whOut = 0;

  constructor(opts: PvInverterOptions = {}) {
    const ratedW = opts.ratedW ?? 10000;
    super([...legacyModels(opts, ratedW), ...ieee1547Models(ratedW)]);
    this.ratedW = ratedW;
    this.lat = opts.lat ?? 52.37;
    this.lon = opts.lon ?? 4.9;
    if (opts.rand) this.clouds = new CloudModel(opts.rand);
    this.validators.push(
      range(123, 'WMaxLimPct', 0, 100),
      range(704, 'WMaxLimPct', 0, 100),
      range(704, 'WMaxLimPctRvrt', 0, 100),
      range(704, 'VarSet', -ratedW * 0.44, ratedW * 0.44),
      range(704, 'VarSetPct', -100, 100),
      (model, point, value) => this.exclusiveModes(model.id, point, value),
    );
    this.tick(Date.now(), 0);
  }

  /** Refuses enabling a reactive power mode while another one is enabled. */
  private exclusiveModes(modelId: number, point: string, value: unknown): string | undefined {
    const modes: Record<string, boolean> = {
      '704.VarSetEna': this.model(704).get('VarSetEna') === 1,
      '704.PFWInjEna': this.model(704).get('PFWInjEna') === 1,
      '705.Ena': this.model(705).get('Ena') === 1,
    };
    const key = `${modelId}.${point}`;
    if (!(key in modes) || value !== 1) return undefined;
    const other = Object.keys(modes).find((k) => k !== key && modes[k]);
    return other ? `reactive power mode ${other} is enabled: disable it first` : undefined;
  }

  /** Reactive power the active mode asks for now (before capability limits), var. */
  private reactiveTarget(pW: number, v: number): number {
    const m702 = this.model(702).decode().values;
    const m704 = this.model(704).decode();
    const injMax = num(m702.VarMaxInj) ?? 0;
    const absMax = num(m702.VarMaxAbs) ?? 0;
    const c = m704.values;
    if (c.VarSetEna === 1) {
      const pct = num(c.VarSetPct) ?? 0;
      switch (c.VarSetMod) {
        case 4:
          return num(c.VarSet) ?? 0;
        case 0:
          return (pct / 100) * this.ratedW;
        case 1:
          return (pct / 100) * (pct >= 0 ? injMax : absMax);
        case 3:
          return (pct / 100) * (num(m702.VAMax) ?? this.ratedW);
        default:
          return 0;
      }
    }
    if (c.PFWInjEna === 1) {
      const g = m704.groups.PFWInj?.[0]?.values ?? {};
      const pf = Math.min(1, Math.max(PF_MIN, num(g.PF) ?? 1));
      return pW * Math.tan(Math.acos(pf)) * (g.Ext === 1 ? -1 : 1);
    }
    const vv = this.model(705).decode();
    if (vv.values.Ena === 1) {
      const crv = vv.groups.Crv?.[0];
      const n = num(crv?.values.ActPt) ?? 0;
      const pts = (crv?.groups.Pt ?? [])
        .slice(0, n)
        .map((p) => [num(p.values.V), num(p.values.Var)])
        .filter((p): p is [number, number] => p[0] !== undefined && p[1] !== undefined);
      if (pts.length < 2) return 0;
      // V in % of VNom; Var in % of the reactive rating on that side (DeptRef VAR_MAX_PCT).
      const pct = interpolate(pts, (v / (num(m702.VNom) ?? NOMINAL_V)) * 100);
      return (pct / 100) * (pct >= 0 ? injMax : absMax);
    }
    return 0;
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
    if (model.id === 704 && point === 'VarSetEna' && model.get('VarSetEna') === 1)
      this.varRevert.arm(now, model.get('VarSetRvrtTms') as number | undefined);
    if (model.id === 704 && point === 'PFWInjEna' && model.get('PFWInjEna') === 1)
      this.pfRevert.arm(now, model.get('PFWInjRvrtTms') as number | undefined);
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
    if (this.varRevert.expired(nowMs)) m704.set('VarSetEna', m704.get('VarSetEnaRvrt') ?? 0);
    if (this.pfRevert.expired(nowMs)) m704.set('PFWInjEna', m704.get('PFWInjEnaRvrt') ?? 0);
    m704.set('VarSetRvrtRem', this.varRevert.remaining(nowMs) ?? 0);
    m704.set('PFWInjRvrtRem', this.pfRevert.remaining(nowMs) ?? 0);

    const elev = solarElevationDeg(nowMs, this.lat, this.lon);
    const cloud = this.clouds ? this.clouds.step(dtS) : 1;
    // 1000 W/m² at STC; 0.9 for temperature and wiring losses.
    this.availableW = Math.min(this.ratedW, (this.ratedW * clearSkyGhi(elev) * cloud * 0.9) / 1000);
    const connected = m123.get('Conn') !== 0;
    const limitW = (this.limitPct() / 100) * this.ratedW;
    this.acW = connected ? Math.round(Math.min(this.availableW, limitW)) : 0;
    this.whOut += (this.acW * dtS) / 3600;

    const throttled = connected && this.availableW > limitW + 1;
    const v = this.gridV + this.acW * 0.0004;
    // Reactive capability: the side's rating, and what the apparent power rating leaves next to P
    // (active power has priority).
    const m702 = this.model(702);
    const headroom = Math.sqrt(Math.max(0, this.ratedW ** 2 - this.acW ** 2));
    const injMax = Math.min(headroom, (m702.get('VarMaxInj') as number | undefined) ?? 0);
    const absMax = Math.min(headroom, (m702.get('VarMaxAbs') as number | undefined) ?? 0);
    const q = connected ? this.reactiveTarget(this.acW, v) : 0;
    this.acVar = Math.round(Math.max(-absMax, Math.min(injMax, q)));
    const va = Math.round(Math.hypot(this.acW, this.acVar));
    // Power factor P/S, negative when absorbing vars (under-excited), as the canonical model signs it.
    const pf = va > 0 ? (this.acW / va) * (this.acVar < 0 ? -1 : 1) : undefined;
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
      VA: va,
      VAr: this.acVar,
      PF: pf === undefined ? undefined : pf * 100,
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
      VA: va,
      Var: this.acVar,
      PF: pf,
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
