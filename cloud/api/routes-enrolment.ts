import { readFileSync } from 'node:fs';
import QRCode from 'qrcode';
import { z } from 'zod';
import { hashEnrolmentCode, newEnrolmentCode, normalizeEnrolmentCode } from '../auth/enrolment.ts';
import type { FailureThrottle } from '../auth/failure-throttle.ts';
import { CertificateRequestError, type GatewayCa, type IssuedCertificate } from '../auth/gateway-ca.ts';
import { hashSecret, newSecret, secretMatches } from '../auth/secrets.ts';
import type { Registry } from '../storage/registry/registry.ts';
import { sourceOf } from './auth.ts';
import { DomainError } from './errors.ts';
import { siteOr404 } from './lookup.ts';
import { siteId, siteParams } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

export interface EnrolmentSettings {
  codeTtlSeconds: number;
  maxCodeTtlSeconds: number;
  /** The broker URL handed to enrolled gateways (else the gateway must be told with --broker). */
  brokerUrl?: string;
  /** PEM file of the CA that signed the broker's certificate, handed to enrolled gateways. */
  brokerCa?: string;
  /** Lifetime of a gateway certificate signed at enrolment or rotation. */
  certificateDays: number;
}

export interface EnrolmentDeps {
  registry: Registry;
  /** Called after a gateway credential changes or is revoked: drops the cached hash, ends live sessions. */
  credentialsChanged: (site: string) => void;
  enrolment: EnrolmentSettings;
  /** Failed code presentations, per source address (429 once over the limit). */
  enrolThrottle: FailureThrottle;
  /** Signs the gateway's certificate request when it sends one. */
  gatewayCa?: GatewayCa;
}

const enrolmentCodeSchema = z.object({
  site: z.string(),
  code: z.string().describe('One-time code, shown once (only its hash is stored)'),
  expiresAt: z.number().describe('UTC epoch ms'),
  qrSvg: z.string().describe('The code as a QR code (SVG)'),
});

const enrolledSchema = z.object({
  site: z.string(),
  uplink: z.object({
    url: z.string().optional(),
    username: z.string(),
    password: z.string(),
    /** PEM of the CA that signed the broker's certificate. */
    caPem: z.string().optional(),
    /** The gateway's certificate (when it sent a request): its MQTT login over TLS, with its own key. */
    certPem: z.string().optional(),
    certNotAfter: z.number().optional().describe('UTC epoch ms'),
  }),
});

/** A PKCS#10 request in PEM, made by the gateway with a key that stays on it. */
const csrField = z
  .string()
  .max(16_384)
  .describe("PEM certificate request made with the gateway's own key (its CN is replaced by the site id)")
  .optional();

/**
 * Enrolment without copied secrets: an operator or installer asks for a one-time code for a site
 * (created when new); the gateway presents it once, over TLS, to the public POST /enrol and receives
 * its own MQTT credential. Codes expire, are used once and stored hashed; failed presentations are
 * throttled per address. Revoking a site's credential refuses its logins and ends its live session.
 */
export function enrolmentRoutes(d: EnrolmentDeps): AnyRouteDef[] {
  const { registry, enrolment: cfg, enrolThrottle: throttle } = d;
  const caPem = () => (cfg.brokerCa ? readFileSync(cfg.brokerCa, 'utf8') : undefined);
  const refuse = (source: string, reason: string, message: string): never => {
    throttle.failure(source, reason);
    throw new DomainError('forbidden', message);
  };
  /** 429 while the source is over its refusals (checked before any lookup). */
  const throttled = (source: string) => {
    const wait = throttle.retryAfterMs(source);
    if (wait <= 0) return;
    throttle.throttled(source);
    const seconds = Math.ceil(wait / 1000);
    throw new DomainError(
      'throttled',
      `too many refused enrolment codes from ${source}: retry in ${seconds} s`,
      {
        'retry-after': String(seconds),
      },
    );
  };
  /** The gateway CA, asked to check or sign a request; its refusals are 400s with the reason. */
  const withCa = async <T>(use: (ca: GatewayCa) => Promise<T>): Promise<T> => {
    if (!d.gatewayCa) throw new DomainError('invalid', 'csr: this cloud issues no gateway certificates');
    return use(d.gatewayCa).catch((err) => {
      throw err instanceof CertificateRequestError ? new DomainError('invalid', err.message) : err;
    });
  };
  const signed = (csr: string | undefined, site: string) =>
    csr === undefined ? undefined : withCa((ca) => ca.sign(csr, site, cfg.certificateDays));
  /** Checked before anything is stored, so a bad request costs the gateway nothing (not its code). */
  const checked = (csr: string) => withCa((ca) => ca.check(csr));
  /** What an enrolled or rotated gateway is told: where and how to log in. */
  const uplinkFor = (site: string, password: string, cert: IssuedCertificate | undefined) => {
    const ca = caPem();
    return {
      site,
      uplink: {
        ...(cfg.brokerUrl ? { url: cfg.brokerUrl } : {}),
        username: site,
        password,
        ...(ca ? { caPem: ca } : {}),
        ...(cert ? { certPem: cert.certPem, certNotAfter: cert.notAfter } : {}),
      },
    };
  };
  return [
    route({
      method: 'post',
      path: '/sites/:site/enrolment',
      summary: 'Create the site if new and issue a one-time enrolment code for its gateway (shown once)',
      tag: 'sites',
      permission: 'site:credentials',
      scope: { site: 'site' },
      params: siteParams,
      body: z
        .object({ ttlSeconds: z.number().int().min(1).optional() })
        .strict()
        .default({}),
      status: 201,
      response: enrolmentCodeSchema,
      handler: async ({ params, body, principal }) => {
        const ttl = body.ttlSeconds ?? cfg.codeTtlSeconds;
        if (ttl > cfg.maxCodeTtlSeconds)
          throw new DomainError(
            'invalid',
            `ttlSeconds: at most ${cfg.maxCodeTtlSeconds} (enrolment.maxCodeTtlSeconds)`,
          );
        await registry.createSite(params.site);
        const code = newEnrolmentCode();
        const expiresAt = Date.now() + ttl * 1000;
        await registry.createEnrolmentCode({
          codeHash: hashEnrolmentCode(normalizeEnrolmentCode(code) as string),
          siteId: params.site,
          expiresAt,
          createdBy: principal.actor,
        });
        const qrSvg = await QRCode.toString(code, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
        return { site: params.site, code, expiresAt, qrSvg };
      },
      audit: {
        action: 'site.enrolment-code',
        target: ({ params }) => params.site,
        detail: (_c, out) => ({ expiresAt: out.expiresAt }),
      },
    }),
    route({
      method: 'post',
      path: '/enrol',
      summary: 'A gateway presents its one-time enrolment code (over TLS) and receives its MQTT credential',
      tag: 'sites',
      permission: null,
      body: z.object({ code: z.string().max(100), csr: csrField }).strict(),
      response: enrolledSchema,
      handler: async ({ body, req }) => {
        const source = sourceOf(req);
        throttled(source);
        const code = normalizeEnrolmentCode(body.code);
        if (!code) return refuse(source, 'malformed', 'malformed enrolment code');
        if (body.csr !== undefined) await checked(body.csr); // a bad request must not use up the code
        const password = newSecret();
        const r = await registry.redeemEnrolmentCode(hashEnrolmentCode(code), hashSecret(password), source);
        if ('refused' in r) {
          const why = {
            unknown: 'unknown enrolment code',
            used: 'enrolment code already used: ask for a new one',
            expired: 'enrolment code expired: ask for a new one',
          }[r.refused];
          await registry.audit('anonymous', 'site.enrol.refused', null, { from: source, reason: r.refused });
          return refuse(source, r.refused, why);
        }
        const cert = await signed(body.csr, r.site);
        if (cert)
          await registry.recordGatewayCertificate(
            {
              siteId: r.site,
              serial: cert.serial,
              fingerprint: cert.fingerprint256,
              notAfter: cert.notAfter,
            },
            true,
          );
        d.credentialsChanged(r.site);
        await registry.audit(`gateway:${r.site}`, 'site.enrol', r.site, {
          from: source,
          ...(cert && { certificate: cert.serial }),
        });
        return uplinkFor(r.site, password, cert);
      },
    }),
    route({
      method: 'post',
      path: '/enrol/rotate',
      summary: 'A gateway replaces its own credential, logging in with the current one (over TLS)',
      tag: 'sites',
      permission: null,
      body: z.object({ site: siteId, password: z.string().max(200), csr: csrField }).strict(),
      response: enrolledSchema,
      handler: async ({ body, req }) => {
        const source = sourceOf(req);
        throttled(source);
        const hash = await registry.siteCredentialHash(body.site);
        if (!hash || !secretMatches(body.password, hash)) {
          await registry.audit('anonymous', 'site.rotate.refused', body.site, { from: source });
          return refuse(
            source,
            'bad credential',
            'bad site credential (revoked? enrol again with a new code)',
          );
        }
        const cert = await signed(body.csr, body.site);
        const password = newSecret();
        await registry.setSiteCredential(body.site, hashSecret(password));
        // A new key replaces the old one: its certificate is revoked in the same step.
        if (cert)
          await registry.recordGatewayCertificate(
            {
              siteId: body.site,
              serial: cert.serial,
              fingerprint: cert.fingerprint256,
              notAfter: cert.notAfter,
            },
            true,
          );
        d.credentialsChanged(body.site);
        await registry.audit(`gateway:${body.site}`, 'site.credentials.rotate', body.site, {
          from: source,
          ...(cert && { certificate: cert.serial }),
        });
        return uplinkFor(body.site, password, cert);
      },
    }),
    route({
      method: 'delete',
      path: '/sites/:site/credentials',
      summary: "Revoke the site's gateway credential: its logins are refused and its live session ends",
      tag: 'sites',
      permission: 'site:credentials',
      scope: { site: 'site' },
      params: siteParams,
      handler: async ({ params }) => {
        await siteOr404(registry, params.site);
        const existed = await registry.revokeSiteCredential(params.site);
        d.credentialsChanged(params.site);
        if (!existed) throw new DomainError('not_found', `site ${params.site} has no gateway credential`);
        return undefined;
      },
      audit: { action: 'site.credentials.revoke', target: ({ params }) => params.site },
    }),
  ];
}
