import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from './config.ts';

const withEss = (ess: Record<string, unknown>) => ({
  site: 'site-1',
  uplink: { url: 'mqtt://127.0.0.1:1883' },
  buffer: { path: '/tmp/b.db' },
  devices: [
    {
      id: 'ess',
      protocol: 'opcua',
      kind: 'battery',
      endpoint: 'opc.tcp://10.0.0.5:4840',
      points: { soc_pct: 'ns=1;s=B.SoC', w: 'ns=1;s=B.P' },
      setpoints: { battery_power: 'ns=1;s=B.PSet' },
      ...ess,
    },
  ],
});

const refused = (raw: unknown, re: RegExp) =>
  assert.throws(
    () => parseConfig(raw, 'edge.yaml'),
    (err: unknown) => err instanceof ConfigError && re.test(err.message),
  );

describe('edge config: OPC UA static nameplate and unit scale', () => {
  it('accepts static ratings, nameplate nodes and a scale per mapped point', () => {
    const c = parseConfig(
      withEss({
        nameplate: { w_max: 10000, var_max: 4000, wh_capacity: 'ns=1;s=B.Cap' },
        scale: { w: 1000, battery_power: 1000, wh_capacity: 1000 },
      }),
    );
    const d = c.devices[0];
    assert.ok(d.protocol === 'opcua');
    assert.deepEqual(d.nameplate, { w_max: 10000, var_max: 4000, wh_capacity: 'ns=1;s=B.Cap' });
    assert.deepEqual(d.scale, { w: 1000, battery_power: 1000, wh_capacity: 1000 });
  });

  it('names the key of a bad rating or scale', () => {
    refused(withEss({ nameplate: { w_max: -5 } }), /devices\.0\.nameplate\.w_max/);
    refused(withEss({ nameplate: { w_maximum: 5 } }), /devices\.0\.nameplate: unknown key\(s\) w_maximum/);
    refused(withEss({ scale: { w: 0 } }), /devices\.0\.scale\.w: a non-zero number/);
    refused(withEss({ scale: { w: 'kW' } }), /devices\.0\.scale\.w/);
    // A scale for something not mapped would silently do nothing.
    refused(
      withEss({ scale: { var: 1000 } }),
      /devices\.0\.scale\.var: no point, setpoint or nameplate node named var/,
    );
    // A static rating is already canonical: a scale on it is refused too.
    refused(
      withEss({ nameplate: { w_max: 10 }, scale: { w_max: 1000 } }),
      /devices\.0\.scale\.w_max: no point, setpoint or nameplate node/,
    );
  });
});
