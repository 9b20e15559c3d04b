/**
 * The cloud's gateway CA: it signs each enrolled gateway's certificate request, so a gateway's MQTT
 * identity can be a key that never left it instead of a password. The CA's files come from config
 * (`enrolment.gatewayCa`) and are made on first start when missing (key mode 0600); every node of a
 * cloud must be given the same pair. Certificates carry the site id as their CN, whatever the request
 * asked for: the cloud decides whom a certificate names, never the requester.
 */
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GATEWAY_KEY_ALGORITHM, x509 } from '../../protocols/pki/x509.ts';

const DAY_MS = 86_400_000;
/** The CA outlives any gateway certificate it signs. */
const CA_DAYS = 20 * 365;

export interface IssuedCertificate {
  certPem: string;
  /** Hex, upper case: how node's TLS reports it (PeerCertificate.serialNumber). */
  serial: string;
  fingerprint256: string;
  notAfter: number;
}

export class CertificateRequestError extends Error {}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

export class GatewayCa {
  private constructor(
    private readonly cert: x509.X509Certificate,
    private readonly key: webcrypto.CryptoKey,
    readonly certPem: string,
  ) {}

  /** Loads the CA pair, or makes a new one when neither file exists (one without the other: an error). */
  static async open(paths: { cert: string; key: string }): Promise<GatewayCa> {
    const have = [existsSync(paths.cert), existsSync(paths.key)];
    if (have[0] !== have[1])
      throw new Error(
        `gateway CA: ${have[0] ? paths.key : paths.cert} is missing next to ${have[0] ? paths.cert : paths.key}: restore it, or remove both to make a new CA (every issued gateway certificate then stops working)`,
      );
    if (!have[0]) {
      const keys = (await webcrypto.subtle.generateKey(GATEWAY_KEY_ALGORITHM, true, [
        'sign',
        'verify',
      ])) as webcrypto.CryptoKeyPair;
      const now = Date.now();
      const ca = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: randomBytes(16)
          .toString('hex')
          .replace(/^[89a-f]/, '1'),
        name: `CN=gridlayer gateway CA ${new Date(now).toISOString().slice(0, 10)}`,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + CA_DAYS * DAY_MS),
        keys,
        signingAlgorithm: GATEWAY_KEY_ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      mkdirSync(dirname(paths.key), { recursive: true });
      mkdirSync(dirname(paths.cert), { recursive: true });
      writeFileSync(
        paths.key,
        pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
        {
          mode: 0o600,
        },
      );
      writeFileSync(paths.cert, ca.toString('pem'));
    }
    const certPem = readFileSync(paths.cert, 'utf8');
    const cert = new x509.X509Certificate(certPem);
    const keyDer = Buffer.from(readFileSync(paths.key, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const key = await webcrypto.subtle.importKey('pkcs8', keyDer, GATEWAY_KEY_ALGORITHM, false, ['sign']);
    return new GatewayCa(cert, key, certPem);
  }

  /**
   * Signs a gateway's certificate request for `site`: the request must be well formed, signed by the
   * key it carries (proof of possession), and that key ECDSA P-256/P-384 or RSA of 2048 bits or more.
   */
  async sign(csrPem: string, site: string, days: number, now = Date.now()): Promise<IssuedCertificate> {
    const csr = await this.check(csrPem);
    const notAfter = now + days * DAY_MS;
    return this.issue(csr, site, now, notAfter);
  }

  /** A well-formed request, signed by the key it carries, for a strong enough key; else throws. */
  async check(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new CertificateRequestError(`csr: not a PEM certificate request (${(err as Error).message})`);
    }
    if (!(await csr.verify().catch(() => false)))
      throw new CertificateRequestError('csr: its signature does not match its key');
    const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
    const strong =
      (alg.name === 'ECDSA' && ['P-256', 'P-384'].includes(alg.namedCurve ?? '')) ||
      (/^RSA/.test(alg.name) && (alg.modulusLength ?? 0) >= 2048);
    if (!strong)
      throw new CertificateRequestError(
        `csr: key ${alg.name} ${alg.namedCurve ?? alg.modulusLength ?? ''} refused: ECDSA P-256/P-384 or RSA ≥ 2048 bits`,
      );
    return csr;
  }

  private async issue(
    csr: x509.Pkcs10CertificateRequest,
    site: string,
    now: number,
    notAfter: number,
  ): Promise<IssuedCertificate> {
    const cert = await x509.X509CertificateGenerator.create({
      // Positive, 127 bits of randomness: unique per certificate, unguessable.
      serialNumber: `1${randomBytes(16).toString('hex').slice(1)}`,
      subject: new x509.Name([{ CN: [site] }]).toString(),
      issuer: this.cert.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(notAfter),
      signingKey: this.key,
      publicKey: csr.publicKey,
      signingAlgorithm: GATEWAY_KEY_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    const certPem = cert.toString('pem');
    const node = new X509Certificate(certPem);
    return {
      certPem,
      serial: node.serialNumber.toUpperCase(),
      fingerprint256: node.fingerprint256,
      notAfter: new Date(node.validTo).getTime(),
    };
  }
}
