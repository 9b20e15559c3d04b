import type { ModelDef } from '../types.ts';
import { model705, model706, model712 } from './curves.ts';
import { model101, model102, model103, model111, model112, model113 } from './inverters.ts';
import { model201, model202, model203, model204, model211, model212, model213 } from './meters.ts';
import { model1 } from './model_1.ts';
import { model120 } from './model_120.ts';
import { model121 } from './model_121.ts';
import { model122 } from './model_122.ts';
import { model123 } from './model_123.ts';
import { model124 } from './model_124.ts';
import { model126 } from './model_126.ts';
import { model160 } from './model_160.ts';
import { model701 } from './model_701.ts';
import { model702 } from './model_702.ts';
import { model703 } from './model_703.ts';
import { model704 } from './model_704.ts';
import { model711 } from './model_711.ts';
import { model713 } from './model_713.ts';
import { model714 } from './model_714.ts';
import { model715 } from './model_715.ts';
import { model802 } from './model_802.ts';
import { model707, model708, model709, model710 } from './trips.ts';

/** Every SunSpec model gridlayer understands, by model id. */
export const MODELS: ReadonlyMap<number, ModelDef> = new Map(
  [
    model1,
    model101,
    model102,
    model103,
    model111,
    model112,
    model113,
    model120,
    model121,
    model122,
    model123,
    model124,
    model126,
    model160,
    model201,
    model202,
    model203,
    model204,
    model211,
    model212,
    model213,
    model701,
    model702,
    model703,
    model704,
    model705,
    model706,
    model707,
    model708,
    model709,
    model710,
    model711,
    model712,
    model713,
    model714,
    model715,
    model802,
  ].map((m) => [m.id, m]),
);

export function getModel(id: number): ModelDef | undefined {
  return MODELS.get(id);
}
