/**
 * Gateway certificates, as both sides see them: the gateway makes its key and a certificate request
 * (PKCS#10); the cloud's gateway CA signs it with the site id as the subject's common name, and the
 * broker takes that name as the gateway's identity. One key algorithm for both: ECDSA P-256 (small,
 * fast on a gateway's CPU, accepted by every TLS stack the gateways use).
 *
 * @peculiar/x509 (pure TypeScript on the platform's WebCrypto) builds and checks requests and
 * certificates; it resolves its parts through tsyringe, which needs the Reflect metadata polyfill
 * loaded first: hence the import order here, and why both sides import the library through this file.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);

export { x509 };

export const GATEWAY_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** The site a gateway certificate names (its subject's CN), or undefined. */
export function commonNameOf(subject: string): string | undefined {
  return new x509.Name(subject).getField('CN')[0];
}

/**
 * A new gateway key and a certificate request for `site`. The key stays on the gateway (PKCS#8 PEM);
 * only the request, which proves possession of it, travels.
 */
export async function newGatewayKeyAndRequest(site: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await webcrypto.subtle.generateKey(GATEWAY_KEY_ALGORITHM, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${site}`,
    keys: keys as webcrypto.CryptoKeyPair,
    signingAlgorithm: GATEWAY_KEY_ALGORITHM,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const b64 = pkcs8.toString('base64').replace(/.{64}/g, '$&\n');
  return {
    keyPem: `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`,
    csrPem: csr.toString('pem'),
  };
}
