/**
 * Actors, roles and the six DSO organizational models as configuration.
 *
 * A role is a function (DMO, DGO, DERM …); an actor is an organization that may hold several roles.
 * An organizational model is nothing but an assignment of roles to actor kinds plus a market form
 * and the rule on utility-owned DER. `custom` assignments are allowed and checked with the same rules.
 */

export type ActorKind =
  | 'iso'
  | 'utility'
  | 'independent_dso'
  | 'aggregator'
  | 'producer'
  | 'consumer'
  | 'retailer';

export interface Actor {
  readonly id: string;
  readonly kind: ActorKind;
  readonly name?: string;
}

export type Role = 'ISO' | 'DGO' | 'DMO' | 'DERM' | 'SDP' | 'LDP' | 'participant';

export type MarketForm = 'wholesale' | 'nodal' | 'p2p';

export type ModelId = 1 | 2 | 3 | 4 | 5 | 6;

/** Which actor holds each operating role (actor ids). DERM may be absent (P2P self-dispatch). */
export interface RoleAssignment {
  readonly ISO: string;
  readonly DGO: string;
  readonly DMO: string;
  readonly DERM: string | null;
  readonly SDP: string;
  readonly LDP: string;
}

export interface MarketConfig {
  readonly model: ModelId | 'custom';
  readonly name: string;
  readonly marketForm: MarketForm;
  readonly roles: RoleAssignment;
  readonly actors: ReadonlyMap<string, Actor>;
  /** Whether DER owned by the utility may bid/offer. */
  readonly utilityDerMayParticipate: boolean;
  /** Centralized models: DER reach the ISO market only through an aggregator. */
  readonly derViaAggregatorOnly: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface ModelTemplate {
  readonly name: string;
  readonly marketForm: MarketForm;
  readonly dmo: ActorKind;
  readonly derm: ActorKind | null;
  /** true/false = fixed by the model; 'open' = the regulator decides (config option, default false). */
  readonly utilityDer: boolean | 'open' | 'may';
}

/** The six models of the architecture brief's table. The DGO and planners are the utility in all six. */
export const MODELS: Readonly<Record<ModelId, ModelTemplate>> = {
  1: { name: 'TSO only', marketForm: 'wholesale', dmo: 'iso', derm: 'iso', utilityDer: 'open' },
  2: {
    name: 'TSO - hybrid utility',
    marketForm: 'wholesale',
    dmo: 'iso',
    derm: 'utility',
    utilityDer: 'open',
  },
  3: {
    name: 'distribution node - utility',
    marketForm: 'nodal',
    dmo: 'utility',
    derm: 'utility',
    utilityDer: false,
  },
  4: {
    name: 'distribution node - independent',
    marketForm: 'nodal',
    dmo: 'independent_dso',
    derm: 'independent_dso',
    utilityDer: 'may',
  },
  5: { name: 'peer-to-peer - utility', marketForm: 'p2p', dmo: 'utility', derm: null, utilityDer: false },
  6: {
    name: 'peer-to-peer - independent',
    marketForm: 'p2p',
    dmo: 'independent_dso',
    derm: null,
    utilityDer: 'may',
  },
};

export interface ModelOptions {
  /**
   * Models 1 and 2 leave utility-owned DER participation open: the operator decides (default: not
   * allowed until decided). Models 4 and 6 allow it by default and may forbid it. Models 3 and 5
   * forbid it: asking to allow it there is refused.
   */
  readonly utilityDerMayParticipate?: boolean;
}

/** Builds the configuration of one of the six models over the given actors. */
export function modelConfig(model: ModelId, actors: readonly Actor[], opts: ModelOptions = {}): MarketConfig {
  const t = MODELS[model];
  if (!t) throw new ConfigError(`unknown organizational model ${model}: choose 1..6`);
  const byKind = (kind: ActorKind, role: string): string => {
    const a = actors.find((x) => x.kind === kind);
    if (!a)
      throw new ConfigError(`model ${model} (${t.name}) needs an actor of kind "${kind}" to hold ${role}`);
    return a.id;
  };
  let utilityDer: boolean;
  if (t.utilityDer === 'open') utilityDer = opts.utilityDerMayParticipate ?? false;
  else if (t.utilityDer === 'may') utilityDer = opts.utilityDerMayParticipate ?? true;
  else {
    if (opts.utilityDerMayParticipate === true) {
      throw new ConfigError(`model ${model} (${t.name}) does not let utility-owned DER participate`);
    }
    utilityDer = false;
  }
  const utility = byKind('utility', 'DGO');
  const roles: RoleAssignment = {
    ISO: byKind('iso', 'ISO'),
    DGO: utility,
    DMO: byKind(t.dmo, 'DMO'),
    DERM: t.derm ? byKind(t.derm, 'DERM') : null,
    SDP: utility,
    LDP: utility,
  };
  return freeze({
    model,
    name: t.name,
    marketForm: t.marketForm,
    roles,
    actors: actorMap(actors),
    utilityDerMayParticipate: utilityDer,
    derViaAggregatorOnly: t.marketForm === 'wholesale',
  });
}

/** A custom role assignment, checked by the same rules as the six models. */
export function customConfig(input: {
  name?: string;
  marketForm: MarketForm;
  roles: RoleAssignment;
  actors: readonly Actor[];
  utilityDerMayParticipate: boolean;
  derViaAggregatorOnly?: boolean;
}): MarketConfig {
  const actors = actorMap(input.actors);
  for (const [role, id] of Object.entries(input.roles)) {
    if (id === null) {
      if (role !== 'DERM') throw new ConfigError(`role ${role} must be held by an actor`);
      continue;
    }
    if (!actors.has(id)) throw new ConfigError(`role ${role} is assigned to unknown actor "${id}"`);
  }
  const kindOf = (id: string) => actors.get(id)!.kind;
  if (kindOf(input.roles.DGO) !== 'utility') {
    throw new ConfigError('the DGO must be the utility: it stays responsible for safety and reliability');
  }
  if (kindOf(input.roles.ISO) !== 'iso')
    throw new ConfigError('the ISO role must be held by an ISO/TSO actor');
  if (['aggregator', 'producer', 'consumer', 'retailer'].includes(kindOf(input.roles.DMO))) {
    throw new ConfigError('a market participant cannot be the DMO: the DMO never trades in its own market');
  }
  return freeze({
    model: 'custom',
    name: input.name ?? 'custom',
    marketForm: input.marketForm,
    roles: input.roles,
    actors,
    utilityDerMayParticipate: input.utilityDerMayParticipate,
    derViaAggregatorOnly: input.derViaAggregatorOnly ?? input.marketForm === 'wholesale',
  });
}

/** Roles an actor holds under a configuration ('participant' for everyone without an operating role). */
export function rolesOf(config: MarketConfig, actorId: string): Role[] {
  const out: Role[] = [];
  for (const [role, id] of Object.entries(config.roles)) if (id === actorId) out.push(role as Role);
  const kind = config.actors.get(actorId)?.kind;
  if (kind && ['aggregator', 'producer', 'consumer', 'retailer'].includes(kind)) out.push('participant');
  if (kind === 'utility' && config.utilityDerMayParticipate && !out.includes('DMO')) out.push('participant');
  if (kind === 'independent_dso' && !out.includes('DMO')) out.push('participant');
  return out;
}

function actorMap(actors: readonly Actor[]): Map<string, Actor> {
  const m = new Map<string, Actor>();
  for (const a of actors) {
    if (m.has(a.id)) throw new ConfigError(`actor "${a.id}" is defined twice`);
    m.set(a.id, a);
  }
  return m;
}

function freeze(c: MarketConfig): MarketConfig {
  return Object.freeze({ ...c, roles: Object.freeze({ ...c.roles }) });
}
