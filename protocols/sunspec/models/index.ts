import type { ModelDef } from '../types.ts';
import { model1 } from './model_1.ts';

/** Every SunSpec model gridlayer understands, by model id. */
export const MODELS: ReadonlyMap<number, ModelDef> = new Map(
  [model1].map((m) => [m.id, m]),
);

export function getModel(id: number): ModelDef | undefined {
  return MODELS.get(id);
}
