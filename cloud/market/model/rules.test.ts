import assert from 'node:assert/strict';
import { BidBook, validateBid } from './bids.ts';
import { type Resource, ResourceRegistry } from './resources.ts';
import { ConfigError, customConfig, modelConfig } from './roles.ts';
import { checkControl, checkMayDispatch, MarketRefusal } from './rules.ts';
import { DAY_MS, HOUR_MS } from './time.ts';

const actors = [
  { id: 'iso', kind: 'iso' as const },
  { id: 'util', kind: 'utility' as const },
  { id: 'ind', kind: 'independent_dso' as const },
  { id: 'agg', kind: 'aggregator' as const },
  { id: 'alice', kind: 'producer' as const },
];
const res = (over: Partial<Resource> = {}): Resource => ({
  id: 'pv1',
  owner: 'alice',
  aggregator: 'agg',
  kind: 'pv',
  bus: 'b1',
  max_inject_w: 5000,
  max_withdraw_w: 0,
  status: 'certified',
  ...over,
});
const day = Date.UTC(2026, 6, 2);
const now = day - DAY_MS; // well before the DA gate (noon the day before)
const bid = (over: Record<string, unknown> = {}) => ({
  id: 'b1',
  participant: 'alice',
  resource: 'pv1',
  market: 'DA',
  product: 'energy',
  side: 'sell',
  interval_start: day + 10 * HOUR_MS,
  steps: [
    { quantity_w: 2000, price_per_mwh: 10 },
    { quantity_w: 2000, price_per_mwh: 30 },
  ],
  ...over,
});

describe('market roles and rules', () => {
  const registry = new ResourceRegistry([
    res(),
    res({ id: 'ubat', owner: 'util', kind: 'battery', max_withdraw_w: 1000, energy_wh: 2000 }),
    res({ id: 'new', status: 'applied' }),
    res({ id: 'pending', status: 'registered' }),
  ]);

  it('assigns the roles of the six models', () => {
    assert.equal(modelConfig(1, actors).roles.DMO, 'iso');
    assert.equal(modelConfig(2, actors).roles.DERM, 'util');
    assert.equal(modelConfig(3, actors).roles.DMO, 'util');
    assert.equal(modelConfig(4, actors).roles.DMO, 'ind');
    assert.equal(modelConfig(5, actors).roles.DERM, null);
    assert.equal(modelConfig(6, actors).marketForm, 'p2p');
    for (const m of [1, 2, 3, 4, 5, 6] as const) assert.equal(modelConfig(m, actors).roles.DGO, 'util');
  });

  it('accepts a valid bid', () => {
    const v = validateBid(bid(), { config: modelConfig(4, actors), registry, now });
    assert.equal(v.ok, true);
  });

  it('refuses the DMO bidding in its own market', () => {
    const v = validateBid(bid({ participant: 'ind' }), { config: modelConfig(4, actors), registry, now });
    assert.equal(!v.ok && v.refusal.code, 'DMO_SELF_DEALING');
    const v3 = validateBid(bid({ participant: 'util', resource: 'ubat' }), {
      config: modelConfig(3, actors),
      registry,
      now,
    });
    assert.equal(!v3.ok && v3.refusal.code, 'DMO_SELF_DEALING');
  });

  it('applies the utility-owned DER rule of each model', () => {
    const ub = bid({ participant: 'util', resource: 'ubat' });
    const v4 = validateBid(ub, { config: modelConfig(4, actors), registry, now });
    assert.equal(v4.ok, true, 'model 4: utility DER may participate');
    const v4no = validateBid(ub, {
      config: modelConfig(4, actors, { utilityDerMayParticipate: false }),
      registry,
      now,
    });
    assert.equal(!v4no.ok && v4no.refusal.code, 'UTILITY_DER_EXCLUDED');
    const v6 = validateBid(ub, { config: modelConfig(6, actors), registry, now });
    assert.equal(v6.ok, true);
    assert.throws(() => modelConfig(5, actors, { utilityDerMayParticipate: true }), ConfigError);
    const viaAgg = bid({ participant: 'agg', resource: 'ubat' });
    const reg2 = new ResourceRegistry([
      res({ id: 'ubat', owner: 'util', aggregator: 'agg', kind: 'battery' }),
    ]);
    const v1 = validateBid(viaAgg, { config: modelConfig(1, actors), registry: reg2, now });
    assert.equal(
      !v1.ok && v1.refusal.code,
      'UTILITY_DER_EXCLUDED',
      'model 1: open question, default not allowed',
    );
    const v1yes = validateBid(viaAgg, {
      config: modelConfig(1, actors, { utilityDerMayParticipate: true }),
      registry: reg2,
      now,
    });
    assert.equal(v1yes.ok, true);
  });

  it('requires aggregators in the centralized models', () => {
    const v = validateBid(bid(), { config: modelConfig(2, actors), registry, now });
    assert.equal(!v.ok && v.refusal.code, 'AGGREGATOR_REQUIRED');
    assert.equal(
      validateBid(bid({ participant: 'agg' }), { config: modelConfig(2, actors), registry, now }).ok,
      true,
    );
  });

  it('refuses unknown, unregistered and uncertified resources', () => {
    const ctx = { config: modelConfig(4, actors), registry, now };
    const codes = ['ghost', 'new', 'pending'].map((r) => {
      const v = validateBid(bid({ resource: r }), ctx);
      return v.ok ? 'ok' : v.refusal.code;
    });
    assert.deepEqual(codes, ['UNKNOWN_RESOURCE', 'NOT_REGISTERED', 'NOT_CERTIFIED']);
    assert.equal(checkMayDispatch(ctx.config, registry, 'pending', 'DERM')?.code, 'NOT_CERTIFIED');
    assert.equal(checkMayDispatch(modelConfig(5, actors), registry, 'pv1', 'DERM')?.code, 'NO_DERM');
    assert.equal(checkMayDispatch(modelConfig(5, actors), registry, 'pv1', 'DGO_EMERGENCY'), null);
  });

  it('refuses non-monotone curves, capacity beyond registration and late bids', () => {
    const ctx = { config: modelConfig(4, actors), registry, now };
    const nm = validateBid(
      bid({
        steps: [
          { quantity_w: 1000, price_per_mwh: 30 },
          { quantity_w: 1000, price_per_mwh: 10 },
        ],
      }),
      ctx,
    );
    assert.equal(!nm.ok && nm.refusal.code, 'NON_MONOTONE');
    const cap = validateBid(bid({ steps: [{ quantity_w: 6000, price_per_mwh: 10 }] }), ctx);
    assert.equal(!cap.ok && cap.refusal.code, 'BEYOND_CAPABILITY');
    assert.match(!cap.ok ? cap.refusal.reason : '', /6000 W exceeds .* 5000 W/);
    const late = validateBid(bid(), { ...ctx, now: day - 12 * HOUR_MS });
    assert.equal(!late.ok && late.refusal.code, 'GATE_CLOSED');
    const bad = validateBid(bid({ steps: [] }), ctx);
    assert.equal(!bad.ok && bad.refusal.code, 'MALFORMED');
  });

  it('lets participants modify and cancel only before gate closure, only their own bids', () => {
    const book = new BidBook();
    const ctx = { config: modelConfig(4, actors), registry, now };
    book.submit(bid(), ctx);
    assert.throws(() => book.submit(bid({ id: 'b2' }), ctx), MarketRefusal);
    const m = book.modify('b1', 'alice', [{ quantity_w: 1000, price_per_mwh: 12 }], ctx);
    assert.equal(m.steps[0].price_per_mwh, 12);
    assert.throws(() => book.modify('b1', 'agg', m.steps, ctx), /NOT_YOURS/);
    assert.throws(() => book.cancel('b1', 'alice', { now: day }), /GATE_CLOSED/);
    book.cancel('b1', 'alice', ctx);
    assert.equal(book.list().length, 0);
  });

  it('checks custom role assignments', () => {
    const roles = { ISO: 'iso', DGO: 'util', DMO: 'ind', DERM: null, SDP: 'util', LDP: 'util' };
    const c = customConfig({ marketForm: 'nodal', roles, actors, utilityDerMayParticipate: true });
    assert.equal(c.model, 'custom');
    assert.throws(
      () =>
        customConfig({
          marketForm: 'nodal',
          roles: { ...roles, DGO: 'ind' },
          actors,
          utilityDerMayParticipate: true,
        }),
      /DGO must be the utility/,
    );
    assert.throws(
      () =>
        customConfig({
          marketForm: 'nodal',
          roles: { ...roles, DMO: 'agg' },
          actors,
          utilityDerMayParticipate: true,
        }),
      /never trades/,
    );
  });
});

describe('checkControl: the rules of every control path', () => {
  const reg = (status: Resource['status']) => {
    const r = new ResourceRegistry();
    r.add(res({ status }));
    return r;
  };
  const code = (
    model: 4 | 5,
    status: Resource['status'],
    q: { resource: string | null; as: 'DERM' | 'DGO_EMERGENCY' | 'SELF'; actsFor: string[] },
  ) => checkControl(modelConfig(model, actors), reg(status), { ...q, sender: 'x' })?.code ?? null;

  it('certification first, then the model, then the role, whoever sends', () => {
    assert.equal(code(4, 'registered', { resource: 'pv1', as: 'DERM', actsFor: ['ind'] }), 'NOT_CERTIFIED');
    assert.equal(
      code(4, 'applied', { resource: 'pv1', as: 'DGO_EMERGENCY', actsFor: ['util'] }),
      'NOT_REGISTERED',
    );
    assert.equal(code(5, 'certified', { resource: 'pv1', as: 'DERM', actsFor: ['util'] }), 'NO_DERM');
    assert.equal(
      code(4, 'certified', { resource: 'pv1', as: 'SELF', actsFor: ['alice'] }),
      'WRONG_MARKET_FORM',
    );
    assert.equal(code(4, 'certified', { resource: 'pv1', as: 'DERM', actsFor: ['util'] }), 'NOT_DERM');
    assert.equal(code(5, 'certified', { resource: 'pv1', as: 'DGO_EMERGENCY', actsFor: ['ind'] }), 'NOT_DGO');
    assert.equal(code(5, 'certified', { resource: 'pv1', as: 'SELF', actsFor: ['util'] }), 'NOT_YOURS');
    assert.equal(code(4, 'certified', { resource: 'pv1', as: 'DERM', actsFor: ['ind'] }), null);
    assert.equal(code(5, 'certified', { resource: 'pv1', as: 'DGO_EMERGENCY', actsFor: ['util'] }), null);
    assert.equal(code(5, 'certified', { resource: 'pv1', as: 'SELF', actsFor: ['agg'] }), null);
  });

  it('a DER that is no market resource: only the model rule (no DERM to control it in P2P)', () => {
    assert.equal(code(5, 'certified', { resource: null, as: 'DERM', actsFor: [] }), 'NO_DERM');
    assert.equal(code(4, 'certified', { resource: null, as: 'DERM', actsFor: [] }), null);
  });
});
