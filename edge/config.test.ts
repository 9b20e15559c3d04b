import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from './config.ts';

const good = `
site: site-1
uplink: { url: "mqtts://broker.example:8883", username: gw1, password: token }
buffer: { path: /var/lib/gridlayer/buffer.db }
limits: { export_w_max: 5000, import_w_max: 17000 }
devices:
  - { id: pv1, protocol: modbus-tcp, host: 192.168.1.20, unit: 1 }
  - { id: gw, protocol: modbus-tcp, host: 192.168.1.21, units: { scan: [1, 10] }, readOnly: true }
  - id: rs485
    protocol: modbus-rtu
    serial: { path: /dev/ttyUSB0, baud: 19200, parity: even }
    units: [1, 2]
  - id: ess
    protocol: opcua
    kind: battery
    endpoint: opc.tcp://10.0.0.5:4840
    securityPolicy: Basic256Sha256
    securityMode: SignAndEncrypt
    points: { soc_pct: "ns=1;s=Battery.SoC", w: "ns=1;s=Battery.P" }
    setpoints: { battery_power: "ns=1;s=Battery.PSet" }
`;

describe('edge config', () => {
  it('loads a full config with defaults filled in', () => {
    const c = parseConfigText(good);
    assert.equal(c.site, 'site-1');
    assert.equal(c.uplink.batchMs, 1000);
    assert.equal(c.devices.length, 4);
    const pv = c.devices[0];
    assert.equal(pv.protocol === 'modbus-tcp' && pv.port, 502);
    assert.equal(c.control.defaultMode, 'self_consumption');
    assert.equal(c.buffer.drop, 'oldest');
  });

  const bad = (text: string, re: RegExp) => {
    assert.throws(
      () => parseConfigText(text, 'edge.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, re);
        return true;
      },
    );
  };

  it('names the key and what is expected', () => {
    bad(good.replace('site: site-1', 'site: "bad/site"'), /site: site id: letters/);
    bad(good.replace('unit: 1 }', 'unit: 300 }'), /devices\.0\.unit: .*247/);
    bad(good.replace('mqtts://broker.example:8883', 'http://x'), /uplink\.url: an mqtt:\/\//);
    bad(good.replace('export_w_max: 5000', 'export_w_max: -1'), /limits\.export_w_max/);
    bad(good.replace('baud: 19200', 'baud: fast'), /devices\.2\.serial\.baud/);
    bad(
      good.replace('securityMode: SignAndEncrypt', 'securityMode: None'),
      /devices\.3\.securityMode: securityMode must be Sign/,
    );
    bad(good.replace('id: pv1', 'id: gw'), /duplicate device id gw/);
    bad(
      good.replace('host: 192.168.1.20, unit: 1', 'host: 192.168.1.20'),
      /devices\.0\.unit: give exactly one of unit or units/,
    );
    bad(good.replace('limits:', 'limitz:'), /unknown key\(s\) limitz/);
    bad('site: [', /not valid YAML/);
  });

  it('checks the uplink TLS settings: cert with key, and none of them on a plain URL', () => {
    const tls = (extra: string, url = 'mqtts://broker.example:8883') =>
      good.replace(
        'uplink: { url: "mqtts://broker.example:8883", username: gw1, password: token }',
        `uplink: { url: "${url}", username: gw1, password: token, ${extra} }`,
      );
    const c = parseConfigText(tls('ca: /etc/gridlayer/ca.pem, servername: broker.dso.example'));
    assert.equal(c.uplink.servername, 'broker.dso.example');
    assert.equal(c.uplink.rejectUnauthorized, true);
    assert.equal(parseConfigText(tls('rejectUnauthorized: false')).uplink.rejectUnauthorized, false);
    bad(tls('cert: /etc/gw.pem'), /uplink\.key: give both cert and key/);
    bad(tls('ca: /etc/ca.pem', 'mqtt://broker.example:1883'), /uplink\.ca: only used with an mqtts/);
    bad(tls('rejectUnauthorized: "no"'), /uplink\.rejectUnauthorized/);
  });
});
