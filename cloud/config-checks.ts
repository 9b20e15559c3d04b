/**
 * Cross-field checks of the cloud config: pairs of keys that are each valid alone but contradict each
 * other (a default above its maximum, a minimum above its maximum, a period its renewal cannot keep
 * up with). zod checks each key; these run on the parsed config with the defaults filled in, so a
 * key left out is compared by its default. Every message names the full key path of both keys.
 */
import type { ForecastSettings } from './forecast-service/settings.ts';
import type { NetworkSettings } from './grid/settings.ts';
import { HOUR_MS, type MarketSettings } from './market/index.ts';
import { DEFAULT_DISPATCH_OPTIONS } from './vpp/dispatch.ts';
import type { VppConfig } from './vpp/service.ts';

/**
 * The parts of the parsed cloud config (CloudConfig in config.ts) that these checks read, declared
 * here so that config.ts can run them without the two modules importing each other. Sections with a
 * schema of their own take its type; the inline ones name the keys read. CloudConfig must fit this
 * shape at parseCloudConfig's call, so a renamed or retyped key still fails to compile.
 */
export interface CheckedConfig {
  commands: { defaultTtlSeconds: number; maxTtlSeconds: number };
  auth: { tokenDefaultTtlSeconds: number; tokenMaxTtlSeconds: number };
  enrolment: { codeTtlSeconds: number; maxCodeTtlSeconds: number };
  ingest: { smallBatchPoints: number; maxBatchPoints: number; maxBufferedPoints: number };
  vpp: VppConfig;
  network: NetworkSettings;
  forecast: ForecastSettings;
  market: Pick<MarketSettings, 'meteredSettlement'>;
}

export function crossFieldIssues(c: CheckedConfig): string[] {
  const issues: string[] = [];
  const atMost = (a: string, av: number, b: string, bv: number, why: string) => {
    if (av > bv) issues.push(`${a} (${av}) must not exceed ${b} (${bv}): ${why}`);
  };

  atMost(
    'commands.defaultTtlSeconds',
    c.commands.defaultTtlSeconds,
    'commands.maxTtlSeconds',
    c.commands.maxTtlSeconds,
    'every command sent without its own ttlSeconds would be refused',
  );
  atMost(
    'auth.tokenDefaultTtlSeconds',
    c.auth.tokenDefaultTtlSeconds,
    'auth.tokenMaxTtlSeconds',
    c.auth.tokenMaxTtlSeconds,
    'every token issued without its own ttlSeconds would be refused',
  );
  atMost(
    'enrolment.codeTtlSeconds',
    c.enrolment.codeTtlSeconds,
    'enrolment.maxCodeTtlSeconds',
    c.enrolment.maxCodeTtlSeconds,
    'every enrolment code issued without its own ttlSeconds would be refused',
  );
  atMost(
    'ingest.smallBatchPoints',
    c.ingest.smallBatchPoints,
    'ingest.maxBatchPoints',
    c.ingest.maxBatchPoints,
    'a commit is never larger than maxBatchPoints, so every commit would count as small and be spaced',
  );
  atMost(
    'ingest.maxBatchPoints',
    c.ingest.maxBatchPoints,
    'ingest.maxBufferedPoints',
    c.ingest.maxBufferedPoints,
    'back-pressure stops the buffer before a batch can fill',
  );

  const vpp = { ...DEFAULT_DISPATCH_OPTIONS, ...c.vpp };
  if (vpp.socMinPct >= vpp.socMaxPct)
    issues.push(
      `vpp.socMinPct (${vpp.socMinPct}) must be below vpp.socMaxPct (${vpp.socMaxPct}): no battery could be dispatched`,
    );
  atMost(
    'vpp.commandTtlS',
    vpp.commandTtlS,
    'commands.maxTtlSeconds',
    c.commands.maxTtlSeconds,
    'every dispatch command would be refused',
  );
  if (vpp.commandTtlS * 1000 <= vpp.loopMs)
    issues.push(
      `vpp.commandTtlS (${vpp.commandTtlS} s) must be longer than vpp.loopMs (${vpp.loopMs} ms): dispatch commands would lapse before the loop renews them`,
    );

  const f = c.network.feeder;
  if (f?.vminPu !== undefined && f.vmaxPu !== undefined && f.vminPu > f.vmaxPu)
    issues.push(
      `network.feeder.vminPu (${f.vminPu}) must not exceed network.feeder.vmaxPu (${f.vmaxPu}): no voltage would be feasible`,
    );

  if (c.forecast.everyMinutes > c.forecast.horizonHours * 60)
    issues.push(
      `forecast.everyMinutes (${c.forecast.everyMinutes}) must not exceed forecast.horizonHours (${c.forecast.horizonHours} h = ${c.forecast.horizonHours * 60} min): the forecast would run out before the next run`,
    );

  const ms = c.market.meteredSettlement;
  if (ms.auto && ms.lookbackMs < ms.delayMs + HOUR_MS)
    issues.push(
      `market.meteredSettlement.lookbackMs (${ms.lookbackMs}) must be at least market.meteredSettlement.delayMs (${ms.delayMs}) + 1 h: no completed hour would ever be due for automatic settlement`,
    );
  return issues;
}
