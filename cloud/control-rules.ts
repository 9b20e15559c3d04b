/**
 * # The rules every control path checks
 *
 * Three paths send setpoints to DER: the market's awards (real-time dispatch, P2P self-dispatch, the
 * DGO's emergency dispatch: cloud/market), VPP dispatch (cloud/vpp) and direct commands
 * (POST /sites/:site/commands). All three reach the field only through the command pipeline
 * (cloud/commands/pipeline.ts), so the pipeline is where the rules are checked, once, for all of them.
 *
 * The rules are the market's (cloud/market/model/rules.ts `checkControl`), because they are about
 * the market's facts: the DER registry and its interconnection certificates, the organizational
 * model (which has a DERM: none in the P2P models 5 and 6, where DER self-dispatch and only the DGO
 * may override) and which organization holds which role. The pipeline is below the market (the core
 * starts before the services), so it does not import the market: it holds a `ControlRules` function,
 * given to it when the market opens (cloud/service.ts), and this file is the contract between them.
 *
 * A refusal is the market's own error (MarketRefusal or MarketServiceError), so every path refuses
 * with the same codes (NOT_REGISTERED, NOT_CERTIFIED, NO_DERM, WRONG_MARKET_FORM, NOT_DERM, NOT_DGO,
 * NOT_YOURS) and cloud/api/errors.ts answers them from its one table.
 */

/** One command about to be issued, and who issues it. */
export interface ControlQuery {
  readonly site: string;
  /** The target device; absent: the site's devices that take the command type. */
  readonly device?: string | undefined;
  readonly type: string;
  /**
   * The audit actor of the command: `user:<id>` (a direct command), `dispatch:<id>` (a VPP
   * dispatch), `market:DERM:<org>` / `market:DGO:<org>` / `market:self:<org>` (the market's awards,
   * emergency dispatch and P2P self-dispatch).
   */
  readonly actor: string;
  /** The user a dispatch acts for (`user:<id>`, the VPP dispatch's requester). */
  readonly onBehalfOf?: string | undefined;
}

/** null: allowed; otherwise the refusal (the market's error, with its code and reason). */
export type ControlRules = (q: ControlQuery) => Error | null;

/** The control path of an actor, and the user or organization behind it. */
export type ControlSender =
  | { readonly path: 'command' | 'vpp'; readonly user: string | null }
  | { readonly path: 'market'; readonly as: 'DERM' | 'DGO_EMERGENCY' | 'SELF'; readonly org: string };

export function controlSender(q: Pick<ControlQuery, 'actor' | 'onBehalfOf'>): ControlSender {
  const user = (a: string | undefined) => (a?.startsWith('user:') ? a.slice(5) : null);
  const [kind, role, ...org] = q.actor.split(':');
  if (kind === 'market') {
    const as = role === 'DGO' ? 'DGO_EMERGENCY' : role === 'self' ? 'SELF' : 'DERM';
    return { path: 'market', as, org: org.join(':') };
  }
  if (kind === 'dispatch') return { path: 'vpp', user: user(q.onBehalfOf) };
  return { path: 'command', user: user(q.actor) };
}
