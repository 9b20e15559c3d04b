import { tripModel } from './der-curve.ts';

/** SunSpec ride-through trip models 707–710 (variable length), one builder for all four. */

/** SunSpec model 707: DER Trip LV. */
export const model707 = tripModel({ id: 707, name: 'DERTripLV', label: 'DER Trip LV', axis: 'V' });
/** SunSpec model 708: DER Trip HV. */
export const model708 = tripModel({ id: 708, name: 'DERTripHV', label: 'DER Trip HV', axis: 'V' });
/** SunSpec model 709: DER Trip LF. */
export const model709 = tripModel({ id: 709, name: 'DERTripLF', label: 'DER Trip LF', axis: 'Hz' });
/** SunSpec model 710: DER Trip HF. */
export const model710 = tripModel({ id: 710, name: 'DERTripHF', label: 'DER Trip HF', axis: 'Hz' });
