/**
 * The commissioning report as the installer's `gridlayer commission` writes it (commissioning.json) and
 * uploads it to the cloud (PUT /api/v1/sites/:site/commissioning): what was found on the site's lines,
 * the test write per device and what it read. The cloud keeps it beside the site for the operator app.
 * Known fields are checked; fields a newer CLI adds are kept as they are.
 */
import { z } from 'zod';

const text = (max = 200) => z.string().max(max);

export const commissionedDeviceSchema = z
  .object({
    unit: z.number().int().min(0).max(255),
    kind: text(40).optional(),
    manufacturer: text().optional(),
    model: text().optional(),
    serial: text().optional(),
    firmware: text().optional(),
    models: z.array(z.number().int()).max(100),
    nameplate: z.record(z.string(), z.unknown()).optional(),
    live: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])).optional(),
    liveIssues: z.array(text(500)).max(100).optional(),
    testWrite: z
      .object({
        point: text(80).optional(),
        ok: z.boolean(),
        detail: text(1000),
        original: z.number().optional(),
        written: z.number().optional(),
        readBack: z.number().optional(),
        restored: z.number().optional(),
      })
      .loose(),
    errors: z.array(text(1000)).max(100),
  })
  .loose();

export const commissioningReportSchema = z
  .object({
    at: z.iso.datetime({ offset: true }),
    endpoint: text(300),
    unitsScanned: z.array(z.number().int().min(0).max(255)).max(256),
    devices: z.array(commissionedDeviceSchema).max(64),
  })
  .loose();

export type CommissioningReportWire = z.infer<typeof commissioningReportSchema>;
