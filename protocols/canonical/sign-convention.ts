/**
 * THE sign convention of gridlayer — the one place it is defined. Every device converter and every
 * consumer of canonical values follows it.
 *
 * - Device power (`w`, `var`): positive = power the device delivers into the site's AC bus
 *   (PV generation, battery discharge); negative = power it absorbs (battery charging, a load).
 * - Meter at the point of common coupling (PCC): positive = export from the site to the grid;
 *   negative = import from the grid.
 * - Reactive power: positive = reactive power delivered (over-excited, capacitive, "injecting vars").
 *
 * SunSpec differs per device family: inverters report positive generation (same as ours); SunSpec
 * meters report positive *import* (energy flowing from grid to site), so the meter converter negates;
 * SunSpec storage (802/713/124) reports charge as negative W on model 701, same as ours.
 */
export const SIGN_CONVENTION = {
  device: 'positive = delivered into the site bus (generation, discharge)',
  meter: 'positive = export to the grid at the point of common coupling',
  reactive: 'positive = reactive power delivered (over-excited)',
} as const;

/** SunSpec meters count import as positive; canonical meters count export as positive. */
export function meterPowerFromSunSpec(sunspecW: number): number {
  return sunspecW === 0 ? 0 : -sunspecW;
}
