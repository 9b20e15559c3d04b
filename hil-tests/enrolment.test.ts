import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parseDocument, parse as parseYaml } from 'yaml';
import { CODE_ALPHABET } from '../cloud/auth/enrolment.ts';
import { makeTlsMaterial } from '../test-support/cloud/test-cloud.ts';
import { freePort } from '../test-support/ports.ts';
import type { ManagedProcess } from '../test-support/process.ts';
import { waitForPort } from '../test-support/process.ts';
import { gridlayer, HilCloud, hilDir, waitUntil } from './harness.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'gridlayer.js');

/** Runs a gridlayer CLI command to its end: exit code and output. */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

type Latest = Array<{ device: string; point: string; value: number; ts: number }>;
type Health = { uplink: { connected: boolean; failures: number; lastError?: string } };

/** One MQTT login attempt as the site: 'ok' or the broker's refusal. */
async function login(url: string, ca: string, username: string, password: string): Promise<string> {
  try {
    const c = await mqtt.connectAsync(url, {
      username,
      password,
      ca: readFileSync(ca),
      clientId: `probe-${Math.random().toString(36).slice(2)}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    await c.endAsync();
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('hardware in the loop: gateway enrolment with one-time codes over TLS, rotation and revocation', function () {
  this.timeout(120_000);
  const tmp = hilDir();
  const tls = makeTlsMaterial(tmp.dir);
  const SITE = 'enr-1';
  const MAX_FAILURES = 6;
  const cloud = new HilCloud(tmp.dir, {
    tls: { cert: tls.cert, key: tls.key },
    apiTls: { cert: tls.cert, key: tls.key, ca: tls.ca },
    extraConfig: (c) => [
      `enrolment: ${JSON.stringify({ brokerUrl: c.mqttUrl, brokerCa: tls.ca, throttle: { maxFailures: MAX_FAILURES, windowSeconds: 600 } })}`,
    ],
  });
  let sim: ManagedProcess;
  let edge: ManagedProcess | undefined;
  let modbusPort: number;
  let healthPort: number;
  const edgeConfig = join(tmp.dir, 'edge.yaml');
  let firstCode: string;
  let failures = 0;

  const cloudUrl = () => `https://127.0.0.1:${cloud.apiPort}`;
  const newCode = async (body: Record<string, unknown> = {}) => {
    const r = await cloud.api<{ site: string; code: string; expiresAt: number; qrSvg: string }>(
      'POST',
      `/sites/${SITE}/enrolment`,
      body,
    );
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const enrol = (code: string) =>
    run(['enrol', '--cloud', cloudUrl(), '--code', code, '--ca', tls.ca, '--config', edgeConfig]);
  const health = async (): Promise<Health> =>
    (await fetch(`http://127.0.0.1:${healthPort}/health`)).json() as Promise<Health>;
  const latest = async () => (await cloud.ok<Latest>('GET', `/sites/${SITE}/telemetry/latest`)) ?? [];
  const freshTelemetry = (after: number) =>
    waitUntil(`${SITE} telemetry after ${after}`, async () => {
      const r = await latest();
      return ['pv', 'battery', 'meter'].every((d) => r.some((x) => x.device === d && x.ts > after))
        ? r
        : undefined;
    });
  const uplinkOf = () =>
    (parseYaml(readFileSync(edgeConfig, 'utf8')) as { uplink: Record<string, string> }).uplink;
  const startEdge = async () => {
    edge = gridlayer(['edge', '--config', edgeConfig]);
    await waitForPort(healthPort, edge, 30_000);
  };

  before(async () => {
    await cloud.start();
    [modbusPort, healthPort] = [await freePort(), await freePort()];
    sim = gridlayer(['sim', 'site', '--modbus-port', String(modbusPort), '--seed', '5']);
    await waitForPort(modbusPort, sim, 30_000);
    // The config as commissioning leaves it before enrolment: the devices, no credential yet.
    writeFileSync(
      edgeConfig,
      [
        '# devices found by gridlayer commission',
        `site: ${SITE}`,
        "uplink: { url: 'mqtts://broker.example.net:8883', username: enr-1, password: CHANGE-ME, batchMs: 500, reconnectMs: 500 }",
        `buffer: { path: ${join(tmp.dir, 'buffer.db')} }`,
        `http: { port: ${healthPort} }`,
        'log: { level: warn }',
        'devices:',
        ...[
          ['pv', 1],
          ['battery', 2],
          ['meter', 3],
        ].map(
          ([id, unit]) =>
            `  - { id: ${id}, protocol: modbus-tcp, host: 127.0.0.1, port: ${modbusPort}, unit: ${unit}, pollMs: 500 }`,
        ),
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await edge?.stop();
    await sim?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('an installer gets a one-time code with its QR code; only its hash is stored', async () => {
    const t0 = Date.now();
    const r = await newCode();
    firstCode = r.code;
    assert.equal(r.site, SITE);
    assert.match(r.code, new RegExp(`^([${CODE_ALPHABET}]{5}-){3}[${CODE_ALPHABET}]{5}$`));
    // Default lifetime 24 h (enrolment.codeTtlSeconds).
    assert.ok(Math.abs(r.expiresAt - (t0 + 86_400_000)) < 60_000, `expiresAt ${r.expiresAt}`);
    assert.match(r.qrSvg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(r.qrSvg, /<path[^>]+d="M/);
    const site = await cloud.ok<{ id: string }>('GET', `/sites/${SITE}`);
    assert.equal(site.id, SITE);
    // The database and its write-ahead log, where a fresh row sits until a checkpoint.
    const db = join(tmp.dir, 'data', 'registry.db');
    const registry = Buffer.concat(
      [db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
    );
    assert.ok(registry.includes(Buffer.from(SITE)), 'the registry files hold the site');
    assert.equal(
      registry.includes(Buffer.from(r.code.replace(/-/g, ''))),
      false,
      'the code is stored in the clear',
    );
    assert.equal(registry.includes(Buffer.from(r.code)), false, 'the code is stored in the clear');
  });

  it('the gateway enrols over TLS, its config gets its own credential, and its telemetry arrives', async () => {
    const r = await enrol(firstCode);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /enrolled as site enr-1: updated/);
    const up = uplinkOf();
    assert.equal(up.url, cloud.mqttUrl);
    assert.equal(up.username, SITE);
    assert.ok(up.password.length >= 40 && up.password !== 'CHANGE-ME');
    assert.equal(readFileSync(up.ca, 'utf8'), readFileSync(tls.ca, 'utf8'));
    assert.equal(up.batchMs, 500, 'the uplink tuning is kept');
    // Its own key and the certificate the cloud signed for it: the login over TLS (the password stays
    // for rotation); gateway-certificates.test.ts checks what the certificate holds.
    assert.equal(up.cert, join(tmp.dir, 'gateway-cert.pem'));
    assert.equal(up.key, join(tmp.dir, 'gateway-key.pem'));
    // The file it updated keeps its owner and group (root:gridlayer on a gateway), others lose access.
    assert.equal(statSync(edgeConfig).mode & 0o777, 0o640);
    assert.match(readFileSync(edgeConfig, 'utf8'), /^# devices found by gridlayer commission/);
    const check = await run(['edge', '--config', edgeConfig, '--check']);
    assert.equal(check.code, 0, check.stderr);
    const t = Date.now();
    await startEdge();
    const rows = await freshTelemetry(t);
    assert.ok(rows.some((x) => x.device === 'pv' && x.point === 'w'));
    const audit = await cloud.ok<Array<{ action: string; target: string }>>(
      'GET',
      `/audit?action=site.enrol&target=${SITE}`,
    );
    assert.ok(audit.some((a) => a.action === 'site.enrol' && a.target === SITE));
  });

  it('the same code a second time is refused, and the config is left as it was', async () => {
    const before = readFileSync(edgeConfig, 'utf8');
    const r = await enrol(firstCode);
    failures++;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /HTTP 403.*already used/);
    assert.equal(readFileSync(edgeConfig, 'utf8'), before);
    assert.equal((await health()).uplink.connected, true);
  });

  it('an expired code is refused', async () => {
    const { code, expiresAt } = await newCode({ ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, Math.max(expiresAt - Date.now(), 0) + 300));
    const r = await enrol(code);
    failures++;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /HTTP 403.*expired/);
  });

  it('a forged code (well-formed, never issued) and a malformed one are refused', async () => {
    const forged = Array.from({ length: 20 }, (_, i) => CODE_ALPHABET[(i * 7) % 32]).join('');
    const r = await cloud.api('POST', '/enrol', { code: forged });
    failures++;
    assert.equal(r.status, 403);
    assert.match(JSON.stringify(r.body), /unknown enrolment code/);
    const m = await cloud.api('POST', '/enrol', { code: 'not a code' });
    failures++;
    assert.equal(m.status, 403);
    assert.match(JSON.stringify(m.body), /malformed/);
  });

  it('enrolment is https only: the CLI refuses a plain http:// cloud before sending the code', async () => {
    const r = await run([
      'enrol',
      '--cloud',
      `http://127.0.0.1:${cloud.apiPort}`,
      '--code',
      firstCode,
      '--config',
      edgeConfig,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /https:\/\/ only/);
  });

  it('revoked: the live session is ended, the gateway is refused on every retry, its telemetry stops', async () => {
    const { password } = uplinkOf();
    const r = await run([
      'site',
      'revoke',
      SITE,
      '--api',
      cloudUrl(),
      '--ca',
      tls.ca,
      '--token',
      cloud.token,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const down = await waitUntil('edge disconnected', async () => {
      const h = await health();
      return !h.uplink.connected && h.uplink.failures >= 2 ? h : undefined;
    });
    assert.match(down.uplink.lastError ?? '', /Bad username or password/);
    assert.match(await login(cloud.mqttUrl, tls.ca, SITE, password), /Bad username or password/);
    const t = Date.now();
    await new Promise((res) => setTimeout(res, 2000));
    assert.equal((await health()).uplink.connected, false);
    assert.ok(
      (await latest()).every((x) => x.ts <= t),
      'telemetry stored after the revocation',
    );
    const again = await cloud.api('DELETE', `/sites/${SITE}/credentials`);
    assert.equal(again.status, 404);
  });

  it('re-enrolled with a new code, then rotated: the old credential is refused, the new one works', async () => {
    await edge?.stop();
    const { code } = await newCode();
    const r = await enrol(code);
    assert.equal(r.code, 0, r.stderr);
    const enrolled = uplinkOf().password;
    let t = Date.now();
    await startEdge();
    await freshTelemetry(t);
    const rot = await run([
      'site',
      'rotate',
      SITE,
      '--api',
      cloudUrl(),
      '--ca',
      tls.ca,
      '--token',
      cloud.token,
    ]);
    assert.equal(rot.code, 0, rot.stderr);
    const rotated = /password (\S+)/.exec(rot.stdout)?.[1] ?? '';
    assert.notEqual(rotated, enrolled);
    // The session logged in with the old credential is ended and refused from then on.
    await waitUntil('edge with the old credential refused', async () => {
      const h = await health();
      return !h.uplink.connected && /Bad username or password/.test(h.uplink.lastError ?? '') ? h : undefined;
    });
    assert.match(await login(cloud.mqttUrl, tls.ca, SITE, enrolled), /Bad username or password/);
    assert.equal(await login(cloud.mqttUrl, tls.ca, SITE, rotated), 'ok');
    // The operator's rotation replaced every credential, the gateway's certificate included: the
    // installer gives it the new password, without the revoked certificate, and it is back.
    await edge?.stop();
    const doc = parseDocument(readFileSync(edgeConfig, 'utf8').replace(enrolled, rotated));
    doc.deleteIn(['uplink', 'cert']);
    doc.deleteIn(['uplink', 'key']);
    writeFileSync(edgeConfig, doc.toString());
    t = Date.now();
    await startEdge();
    await freshTelemetry(t);
    assert.equal((await health()).uplink.connected, true);
  });

  it('the gateway rotates its own credential: the old one is refused, the new one works after a restart', async () => {
    const before = uplinkOf().password;
    const bad = await cloud.api('POST', '/enrol/rotate', {
      site: SITE,
      password: 'not-the-credential-at-all',
    });
    failures++;
    assert.equal(bad.status, 403);
    assert.equal(uplinkOf().password, before);
    const r = await run(['enrol', '--rotate', '--cloud', cloudUrl(), '--ca', tls.ca, '--config', edgeConfig]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /site enr-1: new credential in .*restart the agent/);
    const after = uplinkOf().password;
    assert.notEqual(after, before);
    assert.ok(after.length >= 40);
    assert.equal(statSync(edgeConfig).mode & 0o777, 0o640);
    assert.match(await login(cloud.mqttUrl, tls.ca, SITE, before), /Bad username or password/);
    assert.equal(await login(cloud.mqttUrl, tls.ca, SITE, after), 'ok');
    await edge?.stop();
    const t = Date.now();
    await startEdge();
    await freshTelemetry(t);
    assert.equal((await health()).uplink.connected, true);
  });

  it('enrol first, then commission --uplink-from: the generated config logs in as enrolled', async () => {
    await edge?.stop();
    const dir = join(tmp.dir, 'site2');
    const enrolled = join(dir, 'enrolled.yaml');
    const r = await cloud.api<{ code: string }>('POST', '/sites/enr-2/enrolment', {});
    assert.equal(r.status, 201);
    const e = await run([
      'enrol',
      '--cloud',
      cloudUrl(),
      '--code',
      r.body.code,
      '--ca',
      tls.ca,
      '--config',
      enrolled,
    ]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /enrolled as site enr-2: wrote .*\n.*--uplink-from/);
    assert.equal(statSync(enrolled).mode & 0o777, 0o600);
    // Written new: a credential, no devices yet, so not runnable as is.
    const check = await run(['edge', '--config', enrolled, '--check']);
    assert.notEqual(check.code, 0);
    assert.match(check.stderr, /at least one device/);
    const out = join(dir, 'commissioning');
    const c = await run([
      'commission',
      '--host',
      '127.0.0.1',
      '--port',
      String(modbusPort),
      '--units',
      '1-3',
      '--no-write',
      '--uplink-from',
      enrolled,
      '--buffer',
      join(dir, 'buffer.db'),
      '--out',
      out,
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /logs in as enrolled site enr-2/);
    const generated = join(out, 'edge.yaml');
    const cfg = parseYaml(readFileSync(generated, 'utf8')) as {
      site: string;
      uplink: Record<string, string>;
    };
    const enrolledCfg = parseYaml(readFileSync(enrolled, 'utf8')) as { uplink: Record<string, string> };
    assert.equal(cfg.site, 'enr-2');
    assert.deepEqual(cfg.uplink, enrolledCfg.uplink);
    writeFileSync(
      generated,
      `${readFileSync(generated, 'utf8')}http: { port: ${healthPort} }\nlog: { level: warn }\n`,
    );
    const ok = await run(['edge', '--config', generated, '--check']);
    assert.equal(ok.code, 0, ok.stderr);
    const t = Date.now();
    edge = gridlayer(['edge', '--config', generated]);
    await waitUntil(
      'enr-2 telemetry',
      async () => {
        const rows = (await cloud.ok<Latest>('GET', '/sites/enr-2/telemetry/latest')) ?? [];
        return ['inverter-1', 'battery-2', 'meter-3'].every((d) =>
          rows.some((x) => x.device === d && x.ts > t),
        )
          ? rows
          : undefined;
      },
      30_000,
    );
  });

  it('gridlayer site enrolment prints the code, its expiry and a terminal QR code, and writes the SVG', async () => {
    const svg = join(tmp.dir, 'enr-3.svg');
    const t0 = Date.now();
    const r = await run([
      'site',
      'enrolment',
      'enr-3',
      '--api',
      cloudUrl(),
      '--ca',
      tls.ca,
      '--token',
      cloud.token,
      '--ttl',
      '3600',
      '--svg',
      svg,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const code = /^code (\S+)$/m.exec(r.stdout)?.[1] ?? '';
    const expires = Date.parse(/^expires (\S+)$/m.exec(r.stdout)?.[1] ?? '');
    assert.ok(Math.abs(expires - (t0 + 3_600_000)) < 60_000, r.stdout);
    assert.match(readFileSync(svg, 'utf8'), /^<svg/);
    // The terminal QR code: rows of half-block characters (between ANSI colour codes).
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences
    const plain = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    assert.ok((plain.match(/^[ ▀▄█]{20,}$/gm) ?? []).length >= 10, plain);
    const got = await cloud.api<{ site: string }>('POST', '/enrol', { code: code.toLowerCase() });
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.equal(got.body.site, 'enr-3');
    const noToken = await run(['site', 'revoke', 'enr-3', '--api', cloudUrl(), '--ca', tls.ca]);
    assert.notEqual(noToken.code, 0);
    assert.match(noToken.stderr, /API token is needed/);
  });

  it('refused codes are throttled per address: past the limit even a valid code gets 429', async () => {
    const forged = 'Z'.repeat(20);
    while (failures < MAX_FAILURES) {
      const r = await cloud.api('POST', '/enrol', { code: forged });
      assert.equal(r.status, 403);
      failures++;
    }
    const { code } = await newCode();
    const r = await cloud.api<{ error: string }>('POST', '/enrol', { code });
    assert.equal(r.status, 429);
    assert.match(r.body.error, /too many refused enrolment codes/);
  });
});
