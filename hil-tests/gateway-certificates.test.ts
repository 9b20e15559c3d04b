import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { makeTlsMaterial, openssl } from '../test-support/cloud/test-cloud.ts';
import { HilCloud, hilDir } from './harness.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'gridlayer.js');

/** A program's exit code and output (never throws). */
function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/**
 * Gateway certificates: the gateway's key never leaves it; the cloud's gateway CA signs its request at
 * enrolment and the broker takes the certificate's CN as the site. Requests and foreign certificates
 * are made with openssl and the logins tried with Mosquitto's own clients: tools we did not write.
 */
describe('hardware in the loop: gateway client certificates from the cloud CA, with Mosquitto clients and openssl', function () {
  this.timeout(120_000);
  const tmp = hilDir();
  const tls = makeTlsMaterial(tmp.dir);
  const p = (f: string) => join(tmp.dir, f);
  const gatewayCa = { cert: p('gw-ca.pem'), key: p('gw-ca-key.pem') };
  // Password logins are refused on this listener: only certificates log in.
  const cloud = new HilCloud(tmp.dir, {
    tls: { cert: tls.cert, key: tls.key, requireClientCertificate: true },
    apiTls: { cert: tls.cert, key: tls.key, ca: tls.ca },
    extraConfig: (c) => [
      `enrolment: ${JSON.stringify({ brokerUrl: c.mqttUrl, brokerCa: tls.ca, gatewayCa, certificateDays: 30, throttle: { maxFailures: 50, windowSeconds: 60 } })}`,
    ],
  });
  const ossl = (...args: string[]) => openssl(args, tmp.dir);
  const newCode = async (site: string) =>
    (await cloud.ok<{ code: string }>('POST', `/sites/${site}/enrolment`, {})).code;
  /** A key and request made by openssl; the request asks for a CN the cloud must not honour. */
  const request = (name: string, key = 'ec') => {
    const newkey = key === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', key];
    ossl(
      'req',
      '-new',
      ...newkey,
      '-nodes',
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
      '-subj',
      '/CN=someone-else',
    );
    return readFileSync(p(`${name}.csr`), 'utf8');
  };
  const enrolWith = (code: string, csr: string) =>
    cloud.api<{
      site: string;
      uplink: { certPem?: string; certNotAfter?: number; password: string };
      error?: string;
    }>('POST', '/enrol', { code, csr }, '');
  /**
   * mosquitto_sub as a gateway, subscribing to `site`'s commands: 'granted', 'denied' (logged in, the
   * subscription refused), or 'refused: <why>' (the login refused, in the broker's CONNACK words).
   */
  const subscribe = async (o: {
    cert?: string;
    key?: string;
    username?: string;
    password?: string;
    site: string;
  }) => {
    const r = await run('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(cloud.mqttPort),
      '--cafile',
      tls.ca,
      '-V',
      'mqttv311',
      '-i',
      `probe-${Math.random().toString(36).slice(2)}`,
      '-q',
      '1',
      '-E',
      '-W',
      '10',
      '-t',
      `gridlayer/v1/sites/${o.site}/commands`,
      ...(o.cert ? ['--cert', o.cert, '--key', o.key as string] : []),
      ...(o.username ? ['-u', o.username] : []),
      ...(o.password ? ['-P', o.password] : []),
    ]);
    if (/Connection Refused: (.*)/.test(r.out))
      return `refused: ${/Connection Refused: (.*?)\.?$/m.exec(r.out)?.[1]}`;
    if (/All subscription requests were denied/.test(r.out)) return 'denied';
    return r.code === 0 && r.out.trim() === '' ? 'granted' : `unexpected: exit ${r.code} ${r.out.trim()}`;
  };
  let certFile: string;

  before(async () => {
    await cloud.start();
  });
  after(async () => {
    await cloud.stop();
    tmp.cleanup();
  });

  it('the cloud makes its gateway CA on first start, key readable by its owner only', () => {
    assert.equal(statSync(gatewayCa.key).mode & 0o077, 0);
    assert.match(ossl('x509', '-in', gatewayCa.cert, '-noout', '-text'), /CA:TRUE/);
  });

  it('a weak or tampered request is refused with a reason, and the code stays usable', async () => {
    const code = await newCode('crt-1');
    const weak = await enrolWith(code, request('weak', 'rsa:1024'));
    assert.equal(weak.status, 400, JSON.stringify(weak.body));
    assert.match(weak.body.error ?? '', /RSA ≥ 2048/);
    // One character of the signature changed: the request no longer proves possession of its key.
    const good = request('tamper');
    const lines = good.trim().split('\n');
    const i = lines.length - 3;
    lines[i] = `${lines[i].slice(0, 10)}${lines[i][10] === 'A' ? 'B' : 'A'}${lines[i].slice(11)}`;
    const tampered = await enrolWith(code, `${lines.join('\n')}\n`);
    assert.equal(tampered.status, 400, JSON.stringify(tampered.body));
    assert.match(tampered.body.error ?? '', /csr:/);
    const garbage = await enrolWith(code, 'not a request');
    assert.equal(garbage.status, 400);
    // The code was not used up by the refusals.
    const ok = await enrolWith(code, request('gw1'));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    certFile = p('gw1.crt');
    writeFileSync(certFile, ok.body.uplink.certPem as string);
  });

  it('the certificate names the site (not what the request asked), is signed by the gateway CA, for client auth, for the configured lifetime', () => {
    assert.match(ossl('x509', '-in', certFile, '-noout', '-subject'), /CN\s*=\s*crt-1\s*$/m);
    assert.match(ossl('verify', '-CAfile', gatewayCa.cert, '-purpose', 'sslclient', certFile), /OK/);
    // A CA the test made itself does not verify it.
    assert.throws(() => ossl('verify', '-CAfile', tls.ca, certFile));
    const end = Date.parse(
      ossl('x509', '-in', certFile, '-noout', '-enddate').replace('notAfter=', '').trim(),
    );
    assert.ok(
      Math.abs(end - (Date.now() + 30 * 86_400_000)) < 5 * 60_000,
      `notAfter ${new Date(end).toISOString()}`,
    );
  });

  it('Mosquitto clients log in with the certificate and no password, as that site only', async () => {
    const key = p('gw1.key');
    assert.equal(await subscribe({ cert: certFile, key, site: 'crt-1' }), 'granted');
    assert.equal(
      await subscribe({ cert: certFile, key, site: 'crt-2' }),
      'denied',
      'another site subscribed',
    );
    // A username naming another site next to the certificate: refused.
    assert.equal(
      await subscribe({ cert: certFile, key, username: 'crt-2', site: 'crt-2' }),
      'refused: not authorised',
    );
    // This listener demands a certificate: the site's valid password alone is refused.
    const { uplink } = (await enrolWith(await newCode('crt-pw'), request('gwpw'))).body;
    assert.equal(
      await subscribe({ username: 'crt-pw', password: uplink.password, site: 'crt-pw' }),
      'refused: not authorised',
    );
  });

  it('a certificate for the site from a CA the cloud does not trust is refused', async () => {
    ossl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      p('evil-ca.key'),
      '-out',
      p('evil-ca.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=gridlayer gateway CA',
    );
    request('evil');
    ossl(
      'x509',
      '-req',
      '-in',
      p('evil.csr'),
      '-CA',
      p('evil-ca.pem'),
      '-CAkey',
      p('evil-ca.key'),
      '-out',
      p('evil.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=crt-1',
      '-set_serial',
      '7',
    );
    assert.equal(
      await subscribe({ cert: p('evil.crt'), key: p('evil.key'), site: 'crt-1' }),
      'refused: bad user name or password',
    );
  });

  it('re-enrolment replaces the certificate, and revocation refuses the new one', async () => {
    const again = await enrolWith(await newCode('crt-1'), request('gw1b'));
    assert.equal(again.status, 200);
    writeFileSync(p('gw1b.crt'), again.body.uplink.certPem as string);
    assert.equal(
      await subscribe({ cert: certFile, key: p('gw1.key'), site: 'crt-1' }),
      'refused: bad user name or password',
      'the replaced certificate still logs in',
    );
    assert.equal(await subscribe({ cert: p('gw1b.crt'), key: p('gw1b.key'), site: 'crt-1' }), 'granted');
    assert.equal((await cloud.api('DELETE', '/sites/crt-1/credentials')).status, 204);
    assert.equal(
      await subscribe({ cert: p('gw1b.crt'), key: p('gw1b.key'), site: 'crt-1' }),
      'refused: bad user name or password',
      'revoked certificate logs in',
    );
  });

  it('gridlayer enrol makes the key on the gateway (0600), sends only the request, and writes cert and key into the uplink', async () => {
    const config = p('edge.yaml');
    const r = await run(process.execPath, [
      BIN,
      'enrol',
      '--cloud',
      `https://127.0.0.1:${cloud.apiPort}`,
      '--code',
      await newCode('crt-3'),
      '--ca',
      tls.ca,
      '--config',
      config,
    ]);
    assert.equal(r.code, 0, r.out);
    const uplink = (parseYaml(readFileSync(config, 'utf8')) as { uplink: Record<string, string> }).uplink;
    assert.equal(uplink.cert, p('gateway-cert.pem'));
    assert.equal(uplink.key, p('gateway-key.pem'));
    assert.equal(statSync(uplink.key).mode & 0o077, 0);
    assert.match(ossl('x509', '-in', uplink.cert, '-noout', '-subject'), /CN\s*=\s*crt-3\s*$/m);
    // The certificate is for the key the gateway holds: their public keys are the same.
    assert.equal(
      ossl('x509', '-in', uplink.cert, '-noout', '-pubkey'),
      ossl('pkey', '-in', uplink.key, '-pubout'),
    );
    assert.equal(await subscribe({ cert: uplink.cert, key: uplink.key, site: 'crt-3' }), 'granted');
  });
});
