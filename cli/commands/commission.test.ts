import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfigText } from '../../edge/config.ts';
import { SimSite } from '../../sim-devices/site.ts';
import { tempDir } from '../../test-support/edge/harness.ts';
import { ModbusTap } from '../../test-support/modbus-tap.ts';

const run = promisify(execFile);

describe('gridlayer commission', function () {
  this.timeout(60_000);
  it('identifies the site, test-writes a different value and restores it, and writes report + edge config', async () => {
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 8 });
    await site.start();
    // Every register write the device receives, seen between commissioning and the device.
    const tap = new ModbusTap({ host: '127.0.0.1', port: site.port });
    await tap.start();
    const dir = tempDir();
    try {
      const limitBefore = site.pv.model(704).get('WMaxLimPct') as number;
      const sf = site.pv.model(704).get('WMaxLimPct_SF') as number;
      const testValue = limitBefore >= 50 ? limitBefore - 10 : limitBefore + 10;
      const { stdout, stderr } = await run(process.execPath, [
        'bin/gridlayer.js',
        'commission',
        '--host',
        '127.0.0.1',
        '--port',
        String(tap.port),
        '--units',
        '1-3,126',
        '--timeout',
        '300',
        '--site',
        'site-c1',
        '--out',
        dir,
      ]);
      assert.match(stderr, /probing unit ids 1, 2, 3, 126\n/);
      assert.match(
        stdout,
        new RegExp(
          `unit 1: inverter gridlayer SIM-PV-3P SN S8-PV — test write: OK \\(wrote ${testValue}, read back ${testValue}; restored ${limitBefore}, read back ${limitBefore}\\)`,
        ),
      );
      assert.match(stdout, /unit 2: battery .* test write: OK/);
      assert.match(stdout, /unit 3: meter/);
      assert.match(stdout, /live: .*\bw -?\d+(\.\d+)? W\b.*\bhz \d+(\.\d+)? Hz\b/);
      assert.match(stdout, /3 device\(s\); report: .*commissioning\.html/);
      assert.equal(site.pv.model(704).get('WMaxLimPct'), limitBefore, 'the test write was restored');
      // The device got the test value, then the original, at the same register.
      const pvWrites = tap.writes.filter((w) => w.unit === 1);
      assert.equal(pvWrites.length, 2, JSON.stringify(pvWrites));
      assert.equal(pvWrites[0].address, pvWrites[1].address);
      assert.deepEqual(pvWrites[0].registers, [Math.round(testValue / 10 ** sf)]);
      assert.deepEqual(pvWrites[1].registers, [Math.round(limitBefore / 10 ** sf)]);
      const report = JSON.parse(readFileSync(join(dir, 'commissioning.json'), 'utf8'));
      assert.deepEqual(report.unitsScanned, [1, 2, 3, 126]);
      assert.equal(report.devices.length, 3);
      assert.equal(report.devices[0].nameplate.w_max, 8000);
      assert.deepEqual(
        { ...report.devices[0].testWrite, detail: undefined },
        {
          point: '704.WMaxLimPct',
          ok: true,
          original: limitBefore,
          written: testValue,
          readBack: testValue,
          restored: limitBefore,
          detail: undefined,
        },
      );
      assert.ok(Number.isFinite(report.devices[2].live.w));
      const md = readFileSync(join(dir, 'commissioning.md'), 'utf8');
      assert.match(md, /## Unit 2: battery/);
      assert.match(md, /\| Nameplate w_max \| 8000 W \|/);
      const html = readFileSync(join(dir, 'commissioning.html'), 'utf8');
      assert.match(html, /^<!doctype html>/);
      assert.match(html, /<th>Serial<\/th><td>S8-PV<\/td>/);
      assert.match(html, /<th>Nameplate w_max<\/th><td>8000 W<\/td>/);
      assert.match(html, /<th>hz<\/th><td class="num">\d+(\.\d+)? Hz<\/td>/);
      assert.equal(/<script|https?:\/\/(?!www\.w3)/.test(html), false, 'the page is self-contained');
      const cfg = parseConfigText(readFileSync(join(dir, 'edge.yaml'), 'utf8'));
      assert.equal(cfg.site, 'site-c1');
      assert.deepEqual(
        cfg.devices.map((d) => d.id),
        ['inverter-1', 'battery-2', 'meter-3'],
      );
    } finally {
      await tap.stop();
      await site.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('probes 1-10 and every vendor default unit id (edge/quirks.ts) when --units is not given', async () => {
    const { knownUnitIds } = await import('../../edge/quirks.ts');
    const expected = [...new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...knownUnitIds()])].sort((a, b) => a - b);
    assert.ok(expected.includes(126) && expected.includes(240));
    const { defaultUnitIds } = await import('./commission.ts');
    assert.deepEqual(defaultUnitIds(), expected);
    const { stdout } = await run(process.execPath, ['bin/gridlayer.js', 'commission', '--help']);
    assert.match(stdout.replace(/\s+/g, ' '), new RegExp(`default: ${expected.join(',')}`));
  });
});

describe('gridlayer commission → edge → cloud', function () {
  this.timeout(120_000);
  it('writes a config that connects as written: the edge comes online at a real cloud', async () => {
    const { startTestCloud } = await import('../../test-support/cloud/test-cloud.ts');
    const { spawn } = await import('node:child_process');
    const { appendFileSync, writeFileSync } = await import('node:fs');
    const { waitFor } = await import('../../test-support/edge/harness.ts');
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 9 });
    await site.start();
    const cloud = await startTestCloud();
    const dir = tempDir();
    let edge: ReturnType<typeof spawn> | undefined;
    let out = '';
    try {
      // The operator pre-registers the site; the cloud issues its gateway secret once.
      const created = await cloud.api<{ gateway: { username: string; password: string } }>('POST', '/sites', {
        body: { id: 'site-c2' },
      });
      assert.equal(created.status, 201);
      writeFileSync(join(dir, 'secret'), `${created.body.gateway.password}\n`);
      await run(process.execPath, [
        'bin/gridlayer.js',
        'commission',
        '--host',
        '127.0.0.1',
        '--port',
        String(site.port),
        '--units',
        '1-3',
        '--timeout',
        '300',
        '--no-write',
        '--site',
        'site-c2',
        '--mqtt',
        `mqtt://127.0.0.1:${cloud.cloud.broker.tcp}`,
        '--password-file',
        join(dir, 'secret'),
        '--buffer',
        join(dir, 'buffer.db'),
        '--out',
        dir,
      ]);
      const configPath = join(dir, 'edge.yaml');
      const cfg = parseConfigText(readFileSync(configPath, 'utf8'));
      // cloud/broker/acl.ts: a gateway's username is its site id.
      assert.equal(cfg.uplink.username, 'site-c2');
      const check = await run(process.execPath, [
        'bin/gridlayer.js',
        'edge',
        '--config',
        configPath,
        '--check',
      ]);
      assert.match(check.stdout, /OK \(site site-c2, 3 device entries\)/);
      // Only the local health port is moved off its default (tests run side by side); uplink untouched.
      appendFileSync(configPath, 'http: { port: 0 }\nlog: { level: info }\n');
      edge = spawn(process.execPath, ['bin/gridlayer.js', 'edge', '--config', configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      edge.stdout?.on('data', (d) => {
        out += d;
      });
      edge.stderr?.on('data', (d) => {
        out += d;
      });
      const online = await waitFor(
        'site online at the cloud',
        async () => {
          const r = await cloud.api<{ status: string; lastSeen: number | null }>('GET', '/sites/site-c2');
          return r.body.status === 'online' && r.body;
        },
        60_000,
        200,
      ).catch((err) => {
        throw new Error(`${err.message}\n${out.slice(-3000)}`);
      });
      assert.ok(online.lastSeen, 'the cloud heard from the gateway');
      const latest = await waitFor(
        'telemetry stored',
        async () => {
          const r = await cloud.api<unknown[]>('GET', '/sites/site-c2/telemetry/latest');
          return r.status === 200 && Array.isArray(r.body) && r.body.length > 0 && r.body;
        },
        30_000,
        200,
      );
      assert.ok(latest.length >= 1);
    } finally {
      if (edge && edge.exitCode === null) {
        const gone = new Promise((r) => edge?.once('exit', r));
        edge.kill('SIGTERM');
        await gone;
      }
      await cloud.stop();
      await site.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gridlayer edge --check', function () {
  this.timeout(30_000);
  const check = (yaml: string) => {
    const dir = tempDir();
    const path = join(dir, 'edge.yaml');
    return import('node:fs')
      .then(({ writeFileSync }) => writeFileSync(path, yaml))
      .then(() => run(process.execPath, ['bin/gridlayer.js', 'edge', '--config', path, '--check']))
      .then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      )
      .finally(() => rmSync(dir, { recursive: true, force: true }));
  };
  const base = (uplink: string) =>
    `site: site-x\nuplink: ${uplink}\nbuffer: { path: /tmp/b.db }\ndevices:\n  - { id: m, protocol: modbus-tcp, host: 127.0.0.1, unit: 1 }\n`;

  it('refuses the placeholder secret, naming the key', async () => {
    const r = await check(base('{ url: "mqtt://127.0.0.1:1883", username: site-x, password: CHANGE-ME }'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /uplink\.password: "CHANGE-ME" is a placeholder/);
  });

  it('refuses a missing CA, certificate or key file, naming each key', async () => {
    const r = await check(
      base(
        '{ url: "mqtts://127.0.0.1:8883", username: site-x, password: s3cr3t-from-the-cloud, ca: /nonexistent/ca.pem, cert: /nonexistent/c.pem, key: /nonexistent/k.pem }',
      ),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /uplink\.ca: cannot read \/nonexistent\/ca\.pem: ENOENT/);
    assert.match(r.stderr, /uplink\.cert: cannot read \/nonexistent\/c\.pem/);
    assert.match(r.stderr, /uplink\.key: cannot read \/nonexistent\/k\.pem/);
  });

  it('passes a real secret and readable files', async () => {
    const r = await check(
      base('{ url: "mqtt://127.0.0.1:1883", username: site-x, password: s3cr3t-from-the-cloud }'),
    );
    assert.equal(r.code, 0, r.stderr);
  });
});
