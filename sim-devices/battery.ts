/**
 * Simulated battery inverter (models 1, 701, 702, 704, 713, 802, 124). Accepts a power setpoint
 * through 704 (WSet in W or WSetPct of WMax, positive = discharge) or, for 1xx-only masters, through
 * 124 (StorCtl_Mod with InWRte/OutWRte). State of charge follows power through round-trip losses,
 * bounded by capacity, SoC limits and charge/discharge ratings.
 */
import { type ModelSpec, RevertTimer, range, type SimModel, SimSunSpecDevice } from './sunspec-device.ts';

export interface BatteryOptions {
  capacityWh?: number;
  maxChargeW?: number;
  maxDischargeW?: number;
  roundTripEfficiency?: number;
  initialSocPct?: number;
  socMinPct?: number;
  socMaxPct?: number;
  serial?: string;
}

/** Ratings the model tables are filled from (defaults already applied). */
interface BatteryRatings {
  capacityWh: number;
  maxChargeW: number;
  maxDischargeW: number;
}

/** The inverter view: common model 1 and the IEEE 1547-2018 models 701, 702, 704. */
function derModels(opts: BatteryOptions, { maxChargeW, maxDischargeW }: BatteryRatings): ModelSpec[] {
  return [
    {
      id: 1,
      input: {
        values: { Mn: 'gridlayer', Md: 'SIM-BAT-1', Vr: '1.0.0', SN: opts.serial ?? 'BAT-000001', DA: 2 },
      },
    },
    {
      id: 701,
      input: {
        values: {
          ACType: 2,
          St: 1,
          InvSt: 3,
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
          WMaxRtg: maxDischargeW,
          VAMaxRtg: maxDischargeW,
          WChaRteMaxRtg: maxChargeW,
          WDisChaRteMaxRtg: maxDischargeW,
          VNomRtg: 230,
          WMax: maxDischargeW,
          VAMax: maxDischargeW,
          WChaRteMax: maxChargeW,
          WDisChaRteMax: maxDischargeW,
          VNom: 230,
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
          WSetEna: 0,
          WSetMod: 1,
          WSet: 0,
          WSetRvrt: 0,
          WSetPct: 0,
          WSetPctRvrt: 0,
          WSetEnaRvrt: 0,
          WSetRvrtTms: 0,
          WSetRvrtRem: 0,
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
  ];
}

/** The storage view: 713 (state), 802 (battery bank) and the legacy storage control 124. */
function storageModels(
  opts: BatteryOptions,
  { capacityWh, maxChargeW, maxDischargeW }: BatteryRatings,
): ModelSpec[] {
  return [
    { id: 713, input: { values: { WHRtg: capacityWh, WH_SF: 0, Pct_SF: -1, SoH: 100, Sta: 0 } } },
    {
      id: 802,
      input: {
        values: {
          AHRtg: capacityWh / 48,
          WHRtg: capacityWh,
          WChaRteMax: maxChargeW,
          WDisChaRteMax: maxDischargeW,
          SoCMax: opts.socMaxPct ?? 100,
          SoCMin: opts.socMinPct ?? 5,
          SoH: 100,
          Typ: 4,
          State: 3,
          LocRemCtl: 0,
          V: 48,
          A: 0,
          W: 0,
          AHRtg_SF: 0,
          WHRtg_SF: 0,
          WChaDisChaMax_SF: 0,
          DisChaRte_SF: 0,
          SoC_SF: -1,
          DoD_SF: -1,
          SoH_SF: 0,
          V_SF: -1,
          CellV_SF: -3,
          A_SF: -1,
          AMax_SF: 0,
          W_SF: 0,
        },
      },
    },
    {
      id: 124,
      input: {
        values: {
          WChaMax: maxChargeW,
          StorCtl_Mod: 0,
          MinRsvPct: opts.socMinPct ?? 5,
          ChaSt: 1,
          OutWRte: 0,
          InWRte: 0,
          InOutWRte_RvrtTms: 0,
          WChaMax_SF: 0,
          WChaDisChaGra_SF: 0,
          VAChaMax_SF: 0,
          MinRsvPct_SF: 0,
          ChaState_SF: -1,
          StorAval_SF: 0,
          InBatV_SF: -1,
          InOutWRte_SF: 0,
        },
      },
    },
  ];
}

export class BatteryInverter extends SimSunSpecDevice {
  readonly capacityWh: number;
  readonly maxChargeW: number;
  readonly maxDischargeW: number;
  private readonly eta: number;
  readonly socMinPct: number;
  readonly socMaxPct: number;
  socPct: number;
  /** AC power now, W (positive = discharge into the site bus, negative = charging). */
  acW = 0;
  private whOut = 0;
  private whIn = 0;
  private readonly wsetRevert = new RevertTimer();
  private readonly rteRevert = new RevertTimer();
  private lastTick = Date.now();

  constructor(opts: BatteryOptions = {}) {
    const capacityWh = opts.capacityWh ?? 10000;
    const maxChargeW = opts.maxChargeW ?? 5000;
    const maxDischargeW = opts.maxDischargeW ?? 5000;
    const ratings = { capacityWh, maxChargeW, maxDischargeW };
    super([...derModels(opts, ratings), ...storageModels(opts, ratings)]);
    this.capacityWh = capacityWh;
    this.maxChargeW = maxChargeW;
    this.maxDischargeW = maxDischargeW;
    this.eta = Math.sqrt(opts.roundTripEfficiency ?? 0.9);
    this.socMinPct = opts.socMinPct ?? 5;
    this.socMaxPct = opts.socMaxPct ?? 100;
    this.socPct = opts.initialSocPct ?? 50;
    this.validators.push(
      range(704, 'WSet', -maxChargeW, maxDischargeW),
      range(704, 'WSetRvrt', -maxChargeW, maxDischargeW),
      range(704, 'WSetPct', -100, 100),
      range(124, 'OutWRte', -100, 100),
      range(124, 'InWRte', -100, 100),
    );
    this.tick(Date.now(), 0);
  }

  protected override onWrite(model: SimModel, point: string): void {
    if (model.id === 704 && point.startsWith('WSet'))
      this.wsetRevert.arm(this.lastTick, model.get('WSetRvrtTms') as number | undefined);
    if (model.id === 124 && (point === 'StorCtl_Mod' || point === 'InWRte' || point === 'OutWRte')) {
      this.rteRevert.arm(this.lastTick, model.get('InOutWRte_RvrtTms') as number | undefined);
    }
  }

  /** Requested power from the active control source (704 first, then 124), before physical limits. */
  requestedW(): number {
    const m704 = this.model(704);
    if (m704.get('WSetEna') === 1) {
      if (m704.get('WSetMod') === 1) return (m704.get('WSet') as number | undefined) ?? 0;
      return (((m704.get('WSetPct') as number | undefined) ?? 0) / 100) * this.maxDischargeW;
    }
    const m124 = this.model(124);
    const mode = (m124.get('StorCtl_Mod') as number | undefined) ?? 0;
    if (mode & 0b10) return (((m124.get('OutWRte') as number | undefined) ?? 0) / 100) * this.maxDischargeW;
    if (mode & 0b01) return -(((m124.get('InWRte') as number | undefined) ?? 0) / 100) * this.maxChargeW;
    return 0;
  }

  tick(nowMs: number, dtS: number): void {
    this.lastTick = nowMs;
    const m704 = this.model(704);
    if (this.wsetRevert.expired(nowMs)) {
      m704.setMany({ WSet: m704.get('WSetRvrt') ?? 0, WSetEna: m704.get('WSetEnaRvrt') ?? 0 });
    }
    m704.set('WSetRvrtRem', this.wsetRevert.remaining(nowMs) ?? 0);
    if (this.rteRevert.expired(nowMs)) this.model(124).setMany({ StorCtl_Mod: 0, InWRte: 0, OutWRte: 0 });

    let p = Math.max(-this.maxChargeW, Math.min(this.maxDischargeW, this.requestedW()));
    // Energy the battery can still give or take before hitting its SoC bounds within this step.
    const room = dtS > 0 ? dtS / 3600 : 0;
    if (p > 0) {
      const availWh = ((this.socPct - this.socMinPct) / 100) * this.capacityWh * this.eta;
      p = room > 0 ? Math.min(p, Math.max(0, availWh / room)) : this.socPct <= this.socMinPct ? 0 : p;
    } else if (p < 0) {
      const roomWh = (((this.socMaxPct - this.socPct) / 100) * this.capacityWh) / this.eta;
      p = room > 0 ? -Math.min(-p, Math.max(0, roomWh / room)) : this.socPct >= this.socMaxPct ? 0 : p;
    }
    this.acW = Math.round(p) || 0; // never -0
    if (this.acW > 0) {
      this.socPct -= ((this.acW * room) / this.eta / this.capacityWh) * 100;
      this.whOut += this.acW * room;
    } else if (this.acW < 0) {
      this.socPct += ((-this.acW * room * this.eta) / this.capacityWh) * 100;
      this.whIn += -this.acW * room;
    }
    this.socPct = Math.min(this.socMaxPct, Math.max(0, this.socPct));

    const v = 230;
    const chaSt =
      this.acW > 0
        ? 3
        : this.acW < 0
          ? 4
          : this.socPct >= this.socMaxPct - 0.05
            ? 5
            : this.socPct <= this.socMinPct + 0.05
              ? 2
              : 6;
    const whAvail = Math.max(0, ((this.socPct - this.socMinPct) / 100) * this.capacityWh);
    this.model(701).setMany({
      W: this.acW,
      VA: Math.abs(this.acW),
      Var: 0,
      PF: this.acW !== 0 ? 1 : undefined,
      A: Math.abs(this.acW) / v,
      LNV: v,
      Hz: 50,
      TotWhInj: this.whOut >= 1 ? Math.round(this.whOut) : undefined,
      TotWhAbs: this.whIn >= 1 ? Math.round(this.whIn) : undefined,
      InvSt: this.acW === 0 ? 7 : 3,
    });
    this.model(713).setMany({ WHAvail: whAvail, SoC: Math.round(this.socPct * 10) / 10 });
    this.model(802).setMany({
      SoC: Math.round(this.socPct * 10) / 10,
      DoD: Math.round((100 - this.socPct) * 10) / 10,
      ChaSt: chaSt,
      W: this.acW,
      A: this.acW / 48,
    });
    this.model(124).setMany({
      ChaState: Math.round(this.socPct * 10) / 10,
      StorAval: Math.round(whAvail),
      ChaSt: chaSt,
    });
  }
}
