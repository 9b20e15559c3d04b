import { newId } from '../../auth/secrets.ts';
import type { Registry } from '../../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../../storage/timeseries/types.ts';
import { MarketServiceError } from '../model/errors.ts';
import { MarketRefusal, refuse } from '../model/rules.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';
import { checkBooks } from '../settlement/ledger.ts';
import { type P2pStatementLine, settleP2pMetered } from '../settlement/metered-p2p.ts';
import type { MarketCaller, MarketContext } from './context.ts';

/**
 * The service side of the P2P metered settlement (settlement/metered-p2p.ts): after a closed
 * delivery interval is over, the DMO settles it from stored telemetry; the run (kind `MT`, summary
 * marketForm `p2p`) keeps the statement, which participants read for their own resources.
 */

export interface P2pMeteredDeps {
  readonly timeseries: TimeSeriesStore | undefined;
  readonly registry: Registry;
}

type PolrLine = { resource: string; participant: string; imbalanceWh: number };

export async function settleP2pInterval(
  m: MarketContext,
  deps: P2pMeteredDeps,
  c: MarketCaller,
  q: { intervalStart: number },
) {
  return m.guard(c, 'market.settle.metered.p2p', String(q.intervalStart), q, async () => {
    const by = c.system === 'DMO' ? m.config.roles.DMO : m.actingAs(c.userId, 'DMO');
    if (m.config.marketForm !== 'p2p')
      throw new MarketRefusal(
        refuse(
          'WRONG_MARKET_FORM',
          `model ${m.config.model} is a ${m.config.marketForm} market: POST /market/settlement/metered`,
        ),
      );
    const intervalMs = m.settings.p2p.intervalMs;
    const start = q.intervalStart;
    const end = start + intervalMs;
    if (start % intervalMs !== 0)
      throw new MarketRefusal(
        refuse('BAD_INTERVAL', `P2P intervals start on multiples of ${intervalMs / 60000} min`),
      );
    if (m.now() < end)
      throw new MarketServiceError('NOT_METERED_YET', 'the interval is not over: meters are still running');
    if (!deps.timeseries)
      throw new MarketServiceError('NO_TELEMETRY', 'no time-series store to read meters from');
    const close = (await m.store.runs({ market: 'P2P', from: start, to: start + 1 })).at(-1);
    if (!close)
      throw new MarketServiceError(
        'NOT_CLOSED',
        'the interval was not closed (POST /market/p2p/close): no trades settled yet',
      );
    if ((await m.store.runs({ market: 'MT', from: start, to: start + 1 })).length)
      throw new MarketServiceError('ALREADY_SETTLED', 'the interval is already settled from its meters');
    const awards = (await m.store.awards({ market: 'P2P', from: start, to: start + 1 })).filter(
      (a) => a.runId === close.id,
    );
    const tradedWh = new Map(awards.map((a) => [a.resource, (a.awardW * intervalMs) / HOUR_MS]));
    const accountOf = new Map(awards.map((a) => [a.resource, a.participant]));
    const assumed = new Map<string, number>();
    for (const p of (close.summary.polr ?? []) as PolrLine[]) {
      assumed.set(p.resource, (assumed.get(p.resource) ?? 0) + p.imbalanceWh);
      if (!accountOf.has(p.resource)) accountOf.set(p.resource, p.participant);
    }
    const closePolr = (await m.store.ledger({ market: 'P2P', from: start, to: start + 1 })).filter(
      (e) => e.runId === close.id && e.kind === 'polr',
    );
    const lmp = Number(close.summary.lmp);
    const polrFeePerMWh = Number(close.summary.polrFeePerMWh);
    const { ledger, lines } = await settleP2pMetered({
      intervalStart: start,
      intervalEnd: end,
      tradedWh,
      accountOf,
      closePolr,
      assumedImbalanceWh: assumed,
      lmp,
      polrFeePerMWh,
      utility: m.config.roles.DGO,
      iso: m.config.roles.ISO,
      timeseries: deps.timeseries,
      registry: deps.registry,
      resources: m.resources,
      links: m.links,
      eventDays: async (resource) =>
        new Set(
          (await m.store.awards({ market: 'P2P', resource })).map((a) =>
            Math.floor(a.intervalStart / DAY_MS),
          ),
        ),
    });
    const books = checkBooks(ledger);
    const balanced = books.every((b) => b.balanced);
    const runId = `mt_${newId(8)}`;
    const summary = {
      marketForm: 'p2p',
      closeRunId: close.id,
      lmp,
      polrFeePerMWh,
      balanced,
      statement: lines,
    };
    await m.store.saveRun(
      { id: runId, market: 'MT', intervalStart: start, intervalEnd: end, runAt: m.now(), runBy: by, summary },
      [],
      [],
      ledger.entries,
    );
    await m.audit(c, 'market.settle.metered.p2p', runId, { as: by, intervalStart: start, balanced });
    return { runId, ...summary, books };
  });
}

/**
 * P2P metered statements per interval: each line with how it was metered and the baseline used.
 * The DMO sees every line; anyone else the lines of the organizations it acts for.
 */
export async function p2pStatements(m: MarketContext, c: MarketCaller, q: { from?: number; to?: number }) {
  const mine = m.actorsOf(c.userId);
  const all = mine.includes(m.config.roles.DMO);
  if (!all && !mine.length)
    throw new MarketServiceError('NO_MARKET_ACTOR', `user "${c.userId}" acts for no market organization`);
  return (await m.store.runs({ market: 'MT', ...q }))
    .filter((r) => r.summary.marketForm === 'p2p')
    .map((r) => ({
      runId: r.id,
      intervalStart: r.intervalStart,
      intervalEnd: r.intervalEnd,
      settledAt: r.runAt,
      lmp: r.summary.lmp as number,
      polrFeePerMWh: r.summary.polrFeePerMWh as number,
      lines: (r.summary.statement as P2pStatementLine[]).filter((l) => all || mine.includes(l.participant)),
    }))
    .filter((s) => all || s.lines.length > 0);
}
