/**
 * Simulated three-phase meter at the point of common coupling (models 1 and 203). It measures
 * site load − PV − battery with the SunSpec meter sign convention: positive W = import from the grid.
 */
import { SimSunSpecDevice } from './sunspec-device.ts';

export class PccMeter extends SimSunSpecDevice {
  /** SunSpec-signed power now: positive = import. */
  importW = 0;
  private whImp = 0;
  private whExp = 0;

  constructor(
    private readonly measure: () => number,
    serial = 'MTR-000001',
  ) {
    super([
      { id: 1, input: { values: { Mn: 'gridlayer', Md: 'SIM-METER-3P', Vr: '1.0.0', SN: serial, DA: 3 } } },
      {
        id: 203,
        input: {
          values: {
            A_SF: -2,
            V_SF: -1,
            Hz_SF: -2,
            W_SF: 0,
            VA_SF: 0,
            VAR_SF: 0,
            PF_SF: -2,
            TotWh_SF: 0,
            TotVAh_SF: 0,
            TotVArh_SF: 0,
            Evt: 0,
          },
        },
      },
    ]);
    this.tick(Date.now(), 0);
  }

  tick(_nowMs: number, dtS: number): void {
    this.importW = Math.round(this.measure());
    if (this.importW > 0) this.whImp += (this.importW * dtS) / 3600;
    else this.whExp += (-this.importW * dtS) / 3600;
    const v = 230;
    const phW = this.importW / 3;
    const a = Math.abs(this.importW) / (3 * v);
    this.model(203).setMany({
      A: a * 3,
      AphA: a,
      AphB: a,
      AphC: a,
      PhV: v,
      PhVphA: v,
      PhVphB: v,
      PhVphC: v,
      PPV: 398.4,
      Hz: 50,
      W: this.importW,
      WphA: phW,
      WphB: phW,
      WphC: phW,
      VA: Math.abs(this.importW),
      VAR: 0,
      // SunSpec 20x PF is in percent (units Pct, scaled by PF_SF): no reactive power = 100 %.
      // No current, no power factor: not implemented rather than a made-up number.
      PF: this.importW !== 0 ? 100 : undefined,
      TotWhImp: this.whImp >= 1 ? Math.round(this.whImp) : undefined,
      TotWhExp: this.whExp >= 1 ? Math.round(this.whExp) : undefined,
    });
  }
}
