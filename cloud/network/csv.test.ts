import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { CsvError, loadFeederCsv, parseFeederCsv, parseOffersCsv } from './csv.ts';

const buses = (text: string) => ({ text, file: 'buses.csv' });
const branches = (text: string) => ({ text, file: 'branches.csv' });
const B = 'bus,type,p_kw,q_kvar\n1,slack,0,0\n2,pq,100,50\n3,pq,80,20\n';
const L = 'from_bus,to_bus,r_ohm,x_ohm\n1,2,0.5,0.3\n2,3,0.4,0.2\n';

function fails(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof CsvError && pattern.test(e.message));
}

describe('feeder CSV import', () => {
  it('reads the minimal contract with SI units inside', () => {
    const net = parseFeederCsv({ buses: buses(B), branches: branches(L), base_kv: 12.47 });
    assert.equal(net.base_voltage_v, 12470);
    assert.deepEqual(
      net.loads.map((l) => [l.bus, l.p_w, l.q_var]),
      [
        ['2', 100e3, 50e3],
        ['3', 80e3, 20e3],
      ],
    );
    assert.equal(net.buses[1].vmin_pu, 0.95);
    assert.ok(net.branches.every((b) => b.in_service && b.rating_va === undefined));
  });

  it('uses optional columns: voltage limits, fixed DERs, in_service, rating, comments, CLI default limits', () => {
    const net = parseFeederCsv({
      buses: buses(
        '# feeder A\nbus,type,p_kw,q_kvar,vmin_pu,vmax_pu,gen_kw,gen_kvar,owner\n1,slack,0,0,,,,,dso\n2,pq,100,50,0.9,1.1,40,,x\n3,pq,80,20,,,,,y\n',
      ),
      branches: branches(
        'from_bus,to_bus,r_ohm,x_ohm,in_service,rating_kva\n1,2,0.5,0.3,1,500\n2,3,0.4,0.2,0,\n1,3,0.4,0.2,1,\n',
      ),
      base_kv: 12.47,
      default_vmin_pu: 0.92,
    });
    assert.deepEqual(
      [net.buses[1].vmin_pu, net.buses[1].vmax_pu, net.buses[2].vmin_pu, net.buses[2].vmax_pu],
      [0.9, 1.1, 0.92, 1.05],
    );
    assert.deepEqual(net.ders, [{ id: 'der-2', bus: '2', p_w: 40e3, q_var: 0 }]);
    assert.deepEqual(
      net.branches.map((b) => [b.in_service, b.rating_va]),
      [
        [true, 500e3],
        [false, undefined],
        [true, undefined],
      ],
    );
  });

  it('names the file and line of a bad value', () => {
    fails(
      () => parseFeederCsv({ buses: buses(B.replace('100', 'abc')), branches: branches(L), base_kv: 12 }),
      /^buses\.csv line 3: column "p_kw" is not a number \(got "abc"\)/,
    );
    fails(
      () => parseFeederCsv({ buses: buses(B.replace('2,pq', '2,pv')), branches: branches(L), base_kv: 12 }),
      /^buses\.csv line 3: column "type" must be 'slack' or 'pq'/,
    );
    fails(
      () => parseFeederCsv({ buses: buses(B), branches: branches(`${L}3,1,-1,0\n`), base_kv: 12 }),
      /^branches\.csv line 4: column "r_ohm" must be >= 0/,
    );
    fails(
      () =>
        parseFeederCsv({ buses: buses(B), branches: branches(L.replace('0.4,0.2', '0.4,')), base_kv: 12 }),
      /^branches\.csv line 3: column "x_ohm" is empty/,
    );
    fails(
      () =>
        parseFeederCsv({
          buses: buses(B),
          branches: branches('from_bus,to_bus,r_ohm,x_ohm,in_service\n1,2,1,1,yes\n2,3,1,1,1\n'),
          base_kv: 12,
        }),
      /^branches\.csv line 2: column "in_service" must be 1 or 0/,
    );
  });

  it('names the file and line of structural errors', () => {
    fails(
      () =>
        parseFeederCsv({ buses: buses('bus,type,p_kw\n1,slack,0\n'), branches: branches(L), base_kv: 12 }),
      /^buses\.csv line 1: missing column\(s\) q_kvar/,
    );
    fails(
      () => parseFeederCsv({ buses: buses(`${B}2,pq,1,1\n`), branches: branches(L), base_kv: 12 }),
      /^buses\.csv line 5: bus "2" already defined on line 3/,
    );
    fails(
      () => parseFeederCsv({ buses: buses(`${B}4,slack,0,0\n`), branches: branches(L), base_kv: 12 }),
      /^buses\.csv: need exactly one bus of type slack, found 2 \(lines 2, 5\)/,
    );
    fails(
      () => parseFeederCsv({ buses: buses(B), branches: branches(`${L}3,9,1,1\n`), base_kv: 12 }),
      /^branches\.csv line 4: unknown bus "9"/,
    );
    fails(
      () => parseFeederCsv({ buses: buses(B), branches: branches(`${L}1,2,3\n`), base_kv: 12 }),
      /^branches\.csv: .*line 4/,
    );
    fails(
      () => parseFeederCsv({ buses: buses(''), branches: branches(L), base_kv: 12 }),
      /^buses\.csv: file is empty/,
    );
  });

  it('names a file it cannot read', async () => {
    await assert.rejects(
      loadFeederCsv({ buses: '/nonexistent/buses.csv', branches: '/nonexistent/branches.csv', base_kv: 12 }),
      (e: unknown) =>
        e instanceof CsvError &&
        /\/nonexistent\/(buses|branches)\.csv: cannot read file \(ENOENT\)/.test(e.message),
    );
  });

  it('reads offers and checks their buses against the network', () => {
    const net = parseFeederCsv({ buses: buses(B), branches: branches(L), base_kv: 12 });
    const offers = parseOffersCsv(
      'bus,direction,quantity_kw,price_per_mwh,id\n3,up,200,80,bat\n2,DOWN,50,-5,\n',
      'offers.csv',
      net,
    );
    assert.deepEqual(offers, [
      { id: 'bat', bus: '3', direction: 'up', quantity_w: 200e3, price_per_mwh: 80 },
      { id: 'offers.csv:3', bus: '2', direction: 'down', quantity_w: 50e3, price_per_mwh: -5 },
    ]);
    fails(
      () => parseOffersCsv('bus,direction,quantity_kw,price_per_mwh\n7,up,1,1\n', 'offers.csv', net),
      /^offers\.csv line 2: unknown bus "7"/,
    );
    fails(
      () => parseOffersCsv('bus,direction,quantity_kw,price_per_mwh\n3,sideways,1,1\n', 'offers.csv', net),
      /line 2: column "direction" must be 'up' or 'down'/,
    );
    fails(
      () => parseOffersCsv('bus,direction,quantity_kw,price_per_mwh\n3,up,0,1\n', 'offers.csv', net),
      /line 2: column "quantity_kw" must be > 0/,
    );
  });
});
