import { model, pt, rw, str } from '../dsl.ts';

export const model1 = model(1, 'common', 'Common', [
  str('Mn', 16, { mandatory: true, static: true }),
  str('Md', 16, { mandatory: true, static: true }),
  str('Opt', 8, { static: true }),
  str('Vr', 8, { static: true }),
  str('SN', 16, { mandatory: true, static: true }),
  rw('DA', 'uint16'),
  pt('Pad', 'pad', { static: true }),
]);
