import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfigText } from '../../edge/config.ts';
import { SimSite } from '../../sim-devices/site.ts';
import { tempDir } from '../../test-support/edge/harness.ts';

const run = promisify(execFile);

describe('gridlayer commission', function () {
  this.timeout(60_000);
  it('identifies the site, test-writes without changing anything, and writes report + edge config', async () => {
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 8 });
    await site.start();
    const dir = tempDir();
    try {
      const limitBefore = site.pv.model(704).get('WMaxLimPct');
      const { stdout } = await run(process.execPath, [
        'bin/gridlayer.js',
        'commission',
        '--host',
        '127.0.0.1',
        '--port',
        String(site.port),
        '--units',
        '1-4',
        '--timeout',
        '300',
        '--site',
        'site-c1',
        '--out',
        dir,
      ]);
      assert.match(stdout, /unit 1: inverter gridlayer SIM-PV-3P SN S8-PV — test write: OK/);
      assert.match(stdout, /unit 2: battery .* test write: OK/);
      assert.match(stdout, /unit 3: meter/);
      assert.match(stdout, /3 device\(s\)/);
      assert.equal(site.pv.model(704).get('WMaxLimPct'), limitBefore, 'the test write changed nothing');
      const report = JSON.parse(readFileSync(join(dir, 'commissioning.json'), 'utf8'));
      assert.equal(report.devices.length, 3);
      assert.equal(report.devices[0].nameplate.w_max, 8000);
      assert.ok(Number.isFinite(report.devices[2].live.w));
      assert.match(readFileSync(join(dir, 'commissioning.md'), 'utf8'), /## Unit 2: battery/);
      const cfg = parseConfigText(readFileSync(join(dir, 'edge.yaml'), 'utf8'));
      assert.equal(cfg.site, 'site-c1');
      assert.deepEqual(
        cfg.devices.map((d) => d.id),
        ['inverter-1', 'battery-2', 'meter-3'],
      );
    } finally {
      await site.stop();
      rmSync(dir, { recursive: true, force: true });
    }
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
