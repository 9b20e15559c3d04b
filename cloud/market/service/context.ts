import type { WholesaleGateway } from '../../../protocols/market/wholesale.ts';
import type { Network } from '../../network/index.ts';
import type { IsoGateway } from '../clearing/total-dso.ts';
import type { BidBook } from '../model/bids.ts';
import type { ResourceLink } from '../model/records.ts';
import type { ResourceRegistry } from '../model/resources.ts';
import type { MarketConfig } from '../model/roles.ts';
import type { MarketSettings } from '../model/settings.ts';
import type { SendCommand } from './dispatch.ts';
import type { MarketStore } from './store.ts';
import type { MarketFormsStore } from './store-forms.ts';

/**
 * What the market-form services (nodal.ts, centralized.ts, p2p.ts) need of the market service, and
 * nothing more: they depend on this interface and MarketService implements it, so none of them
 * imports the service (no import circle) or reaches into its dependencies.
 */

/** Who is acting: the cloud user (for audit) and the organizations it acts for. */
export interface MarketCaller {
  readonly userId: string;
  /** Audit actor string, e.g. `user:alice`. */
  readonly auditActor: string;
  /** In-process automation acting in a role itself (metered-scheduler.ts); never set from the API. */
  readonly system?: 'DMO';
}

/** The wholesale counterpart (protocols/market/wholesale.ts), injected by the composition root. */
export type MarketIso = IsoGateway & Partial<Omit<WholesaleGateway, 'clearDayAhead'>>;

export interface MarketContext {
  readonly config: MarketConfig;
  readonly settings: MarketSettings;
  readonly resources: ResourceRegistry;
  readonly links: ReadonlyMap<string, ResourceLink>;
  readonly book: BidBook;
  readonly store: MarketStore;
  readonly forms: MarketFormsStore;
  readonly network: Network | null;
  readonly gates: MarketSettings['gates'];
  /** The command pipeline; undefined: nothing is dispatched to the field. */
  readonly send: SendCommand | undefined;
  readonly maxTtlSeconds: number | undefined;
  /** The market clock (epoch ms). */
  now(): number;
  /** The injected wholesale counterpart, or a 503 refusal when none is configured. */
  iso(): MarketIso;
  actorsOf(userId: string): string[];
  /** The organization through which the user holds `role`, or a 403. */
  actingAs(userId: string, role: 'DMO' | 'DGO' | 'DERM'): string;
  participant(userId: string, requested?: string): string;
  audit(
    c: MarketCaller,
    action: string,
    target: string | null,
    detail: Record<string, unknown>,
  ): Promise<void>;
  /** Runs `fn`; a refusal is audited with its reason before it propagates. */
  guard<T>(
    c: MarketCaller,
    action: string,
    target: string | null,
    detail: Record<string, unknown>,
    fn: () => Promise<T> | T,
  ): Promise<T>;
  /** A 409 while the market's gate for the interval starting at `start` is still open. */
  requireGateClosed(market: 'DA' | 'RT', start: number): void;
}
