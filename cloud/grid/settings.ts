import { z } from 'zod';

/**
 * `network:` in the cloud config: the feeder (local distribution area) the DSO operates. Default:
 * none (feasibility checks and power flow answer 409 until one is named). The bundled IEEE 33-bus
 * feeder is at cloud/network/feeders/ieee33 (base 12.66 kV), handy for demos.
 */
export const networkSettingsSchema = z
  .object({
    feeder: z
      .object({
        /** Sites whose registry `feeder` is set must name this id to be placed on it (default: directory name). */
        id: z.string().min(1).optional(),
        /** Directory holding buses.csv and branches.csv (docs/network.md). */
        dir: z.string().min(1),
        baseKv: z.number().positive(),
        slackVoltagePu: z.number().positive().optional(),
        vminPu: z.number().positive().optional(),
        vmaxPu: z.number().positive().optional(),
      })
      .strict()
      .nullable()
      .default(null),
    /** Telemetry older than this is not used for the current power flow. */
    staleAfterSeconds: z.number().int().min(1).default(900),
  })
  .strict();

export type NetworkSettings = z.infer<typeof networkSettingsSchema>;
