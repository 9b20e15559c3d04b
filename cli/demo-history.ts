/**
 * Simulated history for the demo: days of a simulated site's telemetry, computed at accelerated time
 * from the same device models the live fleet runs (PV with clear-sky sun and seeded clouds, the
 * household load profile, the battery), read through the edge's own SunSpec driver (discovery,
 * model choice, normalization to canonical points), and handed to the cloud as ordinary telemetry
 * batches through its ingest (the MQTT payload validation, screening and quarantine every gateway
 * batch goes through): nothing reaches the store that a gateway could not have sent.
 *
 * The battery runs a time-of-use schedule in the history (timeOfUseW), so its SoC and power have a
 * day shape; the live site continues from the state of charge the
 * history ends with.
 */
import { SunSpecDriver } from '../edge/drivers/sunspec.ts';
import type { RegisterIO } from '../protocols/modbus/client.ts';
import { SCHEMA_VERSION } from '../protocols/mqtt/payloads.ts';
import { SimSite, type SimSiteOptions } from '../sim-devices/site.ts';

export interface HistoryOptions {
  /** The live site's options (seed, location, ratings): the history uses the same models. */
  site: SimSiteOptions;
  fromMs: number;
  toMs: number;
  /** Sample spacing over the last day (default 5 minutes, the intraday forecast grid). */
  sampleMs?: number;
  /** Sample spacing before the last day (default 15 minutes, the forecast grid). */
  coarseSampleMs?: number;
}

export interface HistorySample {
  ts: number;
  device: string;
  values: Partial<Record<string, number>>;
}

export interface SiteHistoryRun {
  samples: HistorySample[];
  /** Battery state of charge at the end of the history (%). */
  finalSocPct: number;
}

/** Reads a simulated site's registers in-process (what its Modbus TCP server would answer). */
function inProcessIo(sim: SimSite): RegisterIO {
  return {
    endpoint: 'sim://history',
    readHolding: async (unit, address, length) => {
      const d = sim.units.get(unit);
      if (!d) throw new Error(`no device at unit ${unit}`);
      return d.read(address, length);
    },
    writeHolding: async () => {
      throw new Error('the history run does not write to its devices');
    },
  };
}

/** The device ids and units of the fleet's edge config (cli/fleet.ts). */
export const FLEET_DEVICES = [
  { id: 'pv', unit: 1 },
  { id: 'battery', unit: 2 },
  { id: 'meter', unit: 3 },
] as const;

/**
 * The battery's schedule in the history (positive = discharge): charge off-peak at night to 90 %,
 * store PV surplus by day, cover the site's deficit in the evening peak (16-22 h UTC).
 */
function timeOfUseW(sim: SimSite, t: number): number {
  const h = new Date(t).getUTCHours();
  const b = sim.battery;
  const deficit = Math.round(sim.loadW - sim.pv.acW);
  let w = 0;
  if (h >= 1 && h < 5) w = b.socPct < 90 ? -Math.min(2000, b.maxChargeW) : 0;
  else if (h >= 16 && h < 22) w = Math.max(0, deficit);
  else if (deficit < 0) w = deficit;
  return Math.max(-b.maxChargeW, Math.min(b.maxDischargeW, w));
}

export async function simulateSiteHistory(o: HistoryOptions): Promise<SiteHistoryRun> {
  const sampleMs = o.sampleMs ?? 300_000;
  const coarseMs = o.coarseSampleMs ?? 900_000;
  const fineFrom = o.toMs - 86_400_000;
  if (!(o.toMs > o.fromMs)) throw new Error('history: toMs must be after fromMs');
  const start = Math.ceil(o.fromMs / coarseMs) * coarseMs;
  const sim = new SimSite({ ...o.site, startMs: start, speed: 1 });
  const io = inProcessIo(sim);
  let now = start;
  const drivers = FLEET_DEVICES.map(
    (d) =>
      new SunSpecDriver({
        id: d.id,
        unit: d.unit,
        io,
        protocol: 'sunspec-tcp',
        readOnly: true,
        now: () => now,
      }),
  );
  for (const d of drivers) await d.open();
  const bat = sim.battery.model(704);
  const samples: HistorySample[] = [];
  // One physics step per sample (the PV's cloud model sub-steps by itself).
  for (let t = start; t < o.toMs; t += t < fineFrom ? coarseMs : sampleMs) {
    now = t;
    bat.setMany({ WSetEna: 1, WSetMod: 1, WSet: timeOfUseW(sim, t) });
    sim.stepTo(t);
    // Let the live fleet's polls and the cloud's I/O run between samples (this loop is CPU-bound).
    if (samples.length % 60 === 0) await new Promise((r) => setImmediate(r));
    for (const d of drivers) {
      const r = await d.poll();
      samples.push({ ts: t, device: d.id, values: r.values });
    }
  }
  return { samples, finalSocPct: sim.battery.socPct };
}

/** Samples per telemetry message: well inside the payload's 5000-sample and 256 KiB limits. */
const BATCH_SAMPLES = 400;

/** The samples as gateway telemetry payloads (schema version, site, seq, replay: from a buffer). */
export function historyPayloads(site: string, samples: HistorySample[], firstSeq: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < samples.length; i += BATCH_SAMPLES)
    out.push(
      Buffer.from(
        JSON.stringify({
          v: SCHEMA_VERSION,
          site,
          seq: firstSeq + out.length,
          replay: true,
          samples: samples.slice(i, i + BATCH_SAMPLES),
        }),
      ),
    );
  return out;
}
