import type { Resource, ResourceRegistry } from './resources.ts';
import type { MarketConfig } from './roles.ts';

/**
 * The rules every organizational model enforces, as functions returning a refusal (code + reason
 * a participant can act on) or null. Callers refuse; nothing here throws on a rule breach.
 */

export type RefusalCode =
  | 'UNKNOWN_PARTICIPANT'
  | 'DMO_SELF_DEALING'
  | 'UNKNOWN_RESOURCE'
  | 'NOT_REGISTERED'
  | 'NOT_CERTIFIED'
  | 'NOT_REPRESENTED'
  | 'UTILITY_DER_EXCLUDED'
  | 'AGGREGATOR_REQUIRED'
  | 'NON_MONOTONE'
  | 'GATE_CLOSED'
  | 'BEYOND_CAPABILITY'
  | 'BAD_INTERVAL'
  | 'MALFORMED'
  | 'UNKNOWN_BID'
  | 'NOT_YOURS'
  | 'WRONG_MARKET_FORM'
  | 'NO_DERM'
  | 'NOT_DERM'
  | 'NOT_DGO';

export interface Refusal {
  readonly code: RefusalCode;
  readonly reason: string;
}

export class MarketRefusal extends Error {
  override name = 'MarketRefusal';
  constructor(readonly refusal: Refusal) {
    super(`${refusal.code}: ${refusal.reason}`);
  }
}

export function refuse(code: RefusalCode, reason: string): Refusal {
  return { code, reason };
}

/** The DMO never participates in the market it operates. */
export function checkNotDmo(config: MarketConfig, actorId: string): Refusal | null {
  if (config.roles.DMO === actorId) {
    return refuse(
      'DMO_SELF_DEALING',
      `"${actorId}" operates this market (DMO) and may not bid or trade in it`,
    );
  }
  return null;
}

/** Interconnection: only certified resources may bid or be dispatched. */
export function checkCertified(registry: ResourceRegistry, resourceId: string): Refusal | null {
  const r = registry.get(resourceId);
  if (!r) return refuse('UNKNOWN_RESOURCE', `resource "${resourceId}" is not in the DER registry`);
  if (r.status === 'applied') {
    return refuse('NOT_REGISTERED', `resource "${resourceId}" is not registered with the utility yet`);
  }
  if (r.status !== 'certified') {
    return refuse(
      'NOT_CERTIFIED',
      `resource "${resourceId}" has no valid interconnection certificate (status ${r.status})`,
    );
  }
  return null;
}

/** May `participantId` bid or trade on behalf of `resourceId` under `config`? */
export function checkMayBid(
  config: MarketConfig,
  registry: ResourceRegistry,
  participantId: string,
  resourceId: string,
): Refusal | null {
  const actor = config.actors.get(participantId);
  if (!actor) return refuse('UNKNOWN_PARTICIPANT', `participant "${participantId}" is not a known actor`);
  const dmo = checkNotDmo(config, participantId);
  if (dmo) return dmo;
  const cert = checkCertified(registry, resourceId);
  if (cert) return cert;
  const r = registry.get(resourceId)!;
  if (checkNotDmo(config, r.owner)) {
    return refuse(
      'DMO_SELF_DEALING',
      `resource "${resourceId}" belongs to the DMO "${r.owner}" of this market`,
    );
  }
  const ownerKind = config.actors.get(r.owner)?.kind;
  if (ownerKind === 'utility' && !config.utilityDerMayParticipate) {
    return refuse(
      'UTILITY_DER_EXCLUDED',
      `resource "${resourceId}" is utility-owned and model ${config.model} (${config.name}) does not let utility-owned DER participate`,
    );
  }
  if (config.derViaAggregatorOnly) {
    if (actor.kind !== 'aggregator') {
      return refuse(
        'AGGREGATOR_REQUIRED',
        `in model ${config.model} (${config.name}) DER take part in the ISO market only through an aggregator`,
      );
    }
    if (r.aggregator !== participantId) {
      return refuse(
        'NOT_REPRESENTED',
        `aggregator "${participantId}" does not represent resource "${resourceId}"`,
      );
    }
    return null;
  }
  if (r.owner !== participantId && r.aggregator !== participantId) {
    return refuse(
      'NOT_REPRESENTED',
      `"${participantId}" neither owns nor aggregates resource "${resourceId}"`,
    );
  }
  return null;
}

/**
 * May a dispatch instruction be sent to the resource? Needs a certified resource; in P2P models there
 * is no DERM: DER self-dispatch on their trades (`SELF`) and only the DGO's emergency dispatch may
 * override them.
 */
export function checkMayDispatch(
  config: MarketConfig,
  registry: ResourceRegistry,
  resourceId: string,
  by: 'DERM' | 'DGO_EMERGENCY' | 'SELF',
): Refusal | null {
  const cert = checkCertified(registry, resourceId);
  if (cert) return cert;
  if (by === 'SELF' && config.roles.DERM !== null) {
    return refuse(
      'WRONG_MARKET_FORM',
      `model ${config.model} has a DERM ("${config.roles.DERM}"): DER do not self-dispatch`,
    );
  }
  if (by === 'DERM' && config.roles.DERM === null) {
    return refuse(
      'NO_DERM',
      `model ${config.model} has no DERM: DER self-dispatch; only the DGO may override`,
    );
  }
  return null;
}

/** How a control instruction is sent: as the DERM, as the DGO's emergency override, or self-dispatch. */
export type ControlRole = 'DERM' | 'DGO_EMERGENCY' | 'SELF';

/**
 * The rules of every control path (market awards, VPP dispatch, direct commands; cloud/control-rules.ts):
 * a DER that is a market resource must be certified (`checkCertified`); the model must let the sender
 * control it (`checkMayDispatch`: no DERM in the P2P models, no self-dispatch where there is one) —
 * for any DER, market resource or not, since a model without a DERM has none to control anything;
 * and the sender must act for the role: the DERM's organization, the DGO for an emergency, the
 * resource's owner or aggregator for self-dispatch. `sender` names who asks, for the reason;
 * `actsFor` is the organizations it acts for.
 */
export function checkControl(
  config: MarketConfig,
  registry: ResourceRegistry,
  q: { resource: string | null; as: ControlRole; sender: string; actsFor: readonly string[] },
): Refusal | null {
  if (q.resource !== null) {
    const rule = checkMayDispatch(config, registry, q.resource, q.as);
    if (rule) return rule;
  } else if (q.as === 'DERM' && config.roles.DERM === null) {
    return refuse(
      'NO_DERM',
      `model ${config.model} has no DERM: DER self-dispatch; only the DGO may override`,
    );
  }
  if (q.resource === null) return null;
  const holds = (org: string | null | undefined) => org != null && q.actsFor.includes(org);
  if (q.as === 'DERM' && !holds(config.roles.DERM))
    return refuse(
      'NOT_DERM',
      `${q.sender} does not act for the DERM ("${config.roles.DERM}") of this market`,
    );
  if (q.as === 'DGO_EMERGENCY' && !holds(config.roles.DGO))
    return refuse('NOT_DGO', `${q.sender} does not act for the DGO ("${config.roles.DGO}") of this market`);
  if (q.as === 'SELF') {
    const r = registry.get(q.resource)!;
    if (!holds(r.owner) && !holds(r.aggregator))
      return refuse('NOT_YOURS', `${q.sender} neither owns nor aggregates resource "${q.resource}"`);
  }
  return null;
}

/**
 * Information separation in the independent models (4 and 6), where an independent DSO is the DMO and
 * the utility the DGO: the DGO sees the network schedule it screens (injections by bus and interval,
 * and the grid services it buys), not bids, offered prices or who trades; the DMO sees no network
 * state beyond what the DGO publishes (the bus prices, the outcome of the screen). An organization
 * holding both roles (or a model where the utility is the DMO) sees both. `mine` is what the caller
 * acts for. Returns the refusal reason, or null.
 */
export function separationRefusal(
  config: MarketConfig,
  mine: readonly string[],
  view: 'market' | 'network',
  what: string,
): string | null {
  if (config.model !== 4 && config.model !== 6) return null;
  const { DMO, DGO } = config.roles;
  const dmo = mine.includes(DMO);
  const dgo = mine.includes(DGO);
  const head = `model ${config.model} (${config.name}) separates the grid operator from the market operator:`;
  if (view === 'market' && dgo && !dmo)
    return `${head} the DGO ("${DGO}") does not see ${what}; it screens the network schedule (GET /market/dgo/schedule: injections by bus and interval)`;
  if (view === 'network' && dmo && !dgo)
    return `${head} the DMO ("${DMO}") sees no network state (${what}) beyond what the DGO publishes (bus prices: GET /market/prices)`;
  return null;
}

export function capabilityOf(r: Resource, side: 'sell' | 'buy'): number {
  return side === 'sell' ? r.max_inject_w : r.max_withdraw_w;
}
