/**
 * Gateway enrolment: the gateway presents its one-time code to the cloud, over TLS, and writes the
 * MQTT credential it receives into its edge config. No secret is copied by hand: the operator or
 * installer only hands over the code (or its QR code), which is useless once used or expired.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { isMap, parseDocument, stringify } from 'yaml';
import { newGatewayKeyAndRequest } from '../protocols/pki/x509.ts';

export interface JsonResponse<T = unknown> {
  status: number;
  body: T;
}

/**
 * One JSON request over HTTPS; `ca` (PEM text) is then the only CA trusted, else the system's.
 * Plain http:// only with allowHttp (an operator's CLI on the cloud's own loopback), never for enrolment.
 */
export function httpsJson<T = unknown>(
  url: string,
  opts: {
    method?: string;
    body?: unknown;
    token?: string;
    ca?: string;
    timeoutMs?: number;
    allowHttp?: boolean;
  } = {},
): Promise<JsonResponse<T>> {
  const u = new URL(url);
  const plain = u.protocol === 'http:' && opts.allowHttp;
  if (u.protocol !== 'https:' && !plain)
    return Promise.reject(new Error(`${url}: https:// only (a code or a credential travels in it)`));
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolvePromise, reject) => {
    const req = (plain ? httpRequest : httpsRequest)(
      u,
      {
        method: opts.method ?? 'GET',
        ...(opts.ca ? { ca: opts.ca } : {}),
        minVersion: 'TLSv1.2',
        timeout: opts.timeoutMs ?? 15_000,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined && { 'content-type': 'application/json' }),
          ...(opts.token && { authorization: `Bearer ${opts.token}` }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: kept as text
          }
          resolvePromise({ status: res.statusCode ?? 0, body: body as T });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`${url}: no answer within ${opts.timeoutMs ?? 15_000} ms`)),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The cloud's API base from what an installer types: https://host[:port] or the full …/api/v1. */
export function apiBase(cloud: string): string {
  const u = cloud.replace(/\/+$/, '');
  return /\/api\/v\d+$/.test(u) ? u : `${u}/api/v1`;
}

export interface Enrolled {
  site: string;
  uplink: {
    url?: string;
    username: string;
    password: string;
    caPem?: string;
    /** Signed from the request the gateway sent: its login over TLS, with the key only it holds. */
    certPem?: string;
    certNotAfter?: number;
  };
}

/**
 * The gateway's key, readable by whoever may read its config: a new key file takes the config's owner,
 * group and (at most) its mode, so root:gridlayer 0640 lets the service read both; with no config yet,
 * root only (0600), like a new config.
 */
function writeKeyLike(path: string, text: string, configPath: string): void {
  if (existsSync(path) || !existsSync(configPath)) {
    writeSecretFile(path, text);
    return;
  }
  const st = statSync(configPath);
  writeFileSync(path, text, { mode: st.mode & 0o640 });
  try {
    chownSync(path, st.uid, st.gid);
  } catch {
    // not root: the file is ours already
  }
}

/**
 * Stores the gateway's key and the certificate the cloud signed for it, beside its config; returns the
 * two files, or nothing when the cloud signed none (an older cloud).
 */
function saveCertificate(
  configPath: string,
  keyPem: string | undefined,
  got: Enrolled,
): { key: string; cert: string } | undefined {
  if (!got.uplink.certPem || !keyPem) return undefined;
  const files = {
    key: join(dirname(configPath), 'gateway-key.pem'),
    cert: join(dirname(configPath), 'gateway-cert.pem'),
  };
  writeKeyLike(files.key, keyPem, configPath);
  writeFileSync(files.cert, got.uplink.certPem);
  return files;
}

/**
 * Presents a request to the cloud with a key made here for it; a cloud too old to know `csr`
 * refuses the field as unknown before looking at the code, so the request is retried without it.
 */
async function presentWithKey(
  url: string,
  body: Record<string, unknown>,
  ca: string | undefined,
): Promise<{ res: JsonResponse<Enrolled | { error?: string }>; keyPem?: string }> {
  const { keyPem, csrPem } = await newGatewayKeyAndRequest(String(body.site ?? 'gateway'));
  const res = await httpsJson<Enrolled | { error?: string }>(url, {
    method: 'POST',
    body: { ...body, csr: csrPem },
    ca,
  });
  const error = (res.body as { error?: string } | undefined)?.error ?? '';
  if (res.status === 400 && /csr/.test(error) && /unrecognized|unknown/i.test(error))
    return { res: await httpsJson(url, { method: 'POST', body, ca }) };
  return { res, keyPem };
}

export interface EnrolOptions {
  /** The cloud: https://host[:port] (or its …/api/v1). */
  cloud: string;
  code: string;
  /** The edge config to write (updated in place when it exists: site and uplink only). */
  config: string;
  /** PEM text of a CA to trust for the cloud's API certificate (else the system's trusted CAs). */
  apiCa?: string;
  /** Broker URL, when the cloud does not say (enrolment.brokerUrl) or to override it. */
  broker?: string;
  /** Buffer file for a new config (default /var/lib/gridlayer/buffer.db). */
  bufferPath?: string;
}

export interface EnrolResult {
  site: string;
  config: string;
  /** Whether the config existed (site and uplink updated) or was written new (devices still to add). */
  updated: boolean;
  brokerUrl: string;
  caFile?: string;
  /** The gateway's certificate file, when the cloud signed one (the uplink logs in with it over TLS). */
  certFile?: string;
}

export class EnrolError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Presents the code once and writes the received credential into the edge config (mode 0600). */
export async function enrol(o: EnrolOptions): Promise<EnrolResult> {
  const { res, keyPem } = await presentWithKey(`${apiBase(o.cloud)}/enrol`, { code: o.code }, o.apiCa);
  if (res.status !== 200) {
    const why = (res.body as { error?: string } | undefined)?.error ?? JSON.stringify(res.body);
    throw new EnrolError(`enrolment refused (HTTP ${res.status}): ${why}`, res.status);
  }
  const got = res.body as Enrolled;
  const brokerUrl = o.broker ?? got.uplink.url;
  if (!brokerUrl)
    throw new EnrolError(
      'the cloud named no broker URL (its enrolment.brokerUrl): give --broker mqtts://host:8883 and enrol with a new code',
    );
  const configPath = resolve(o.config);
  mkdirSync(dirname(configPath), { recursive: true });
  let caFile: string | undefined;
  if (got.uplink.caPem) {
    caFile = join(dirname(configPath), 'cloud-ca.pem');
    writeFileSync(caFile, got.uplink.caPem);
  }
  const tls = /^(mqtts|wss):/.test(brokerUrl);
  const certs = saveCertificate(configPath, keyPem, got);
  const uplink: Record<string, unknown> = {
    url: brokerUrl,
    username: got.uplink.username,
    password: got.uplink.password,
    ...(caFile && tls ? { ca: caFile } : {}),
    // Over TLS the certificate is the login; the password stays for rotation and plain listeners.
    ...(certs && tls ? { cert: certs.cert, key: certs.key } : {}),
  };
  const updated = existsSync(configPath);
  let text: string;
  if (updated) {
    const doc = parseDocument(readFileSync(configPath, 'utf8'));
    if (doc.errors.length) throw new EnrolError(`${configPath}: not valid YAML: ${doc.errors[0].message}`);
    if (!isMap(doc.contents)) throw new EnrolError(`${configPath}: not a YAML mapping`);
    doc.set('site', got.site);
    // Keep the uplink's tuning (batchMs, clientId …); replace where and how it logs in.
    const prev = doc.get('uplink', true);
    const kept = isMap(prev) ? (prev.toJSON() as Record<string, unknown>) : {};
    for (const k of ['url', 'username', 'password', 'ca', 'cert', 'key', 'servername']) delete kept[k];
    doc.set('uplink', doc.createNode({ ...uplink, ...kept }));
    text = doc.toString();
  } else {
    const fresh = {
      site: got.site,
      uplink,
      buffer: { path: o.bufferPath ?? '/var/lib/gridlayer/buffer.db' },
      devices: [],
    };
    text = `# Written by gridlayer enrol on ${new Date().toISOString()} for site ${got.site}.\n# Add the devices: gridlayer commission … --uplink-from ${configPath} (or list them under devices).\n${stringify(fresh)}`;
  }
  writeSecretFile(configPath, text);
  return {
    site: got.site,
    config: configPath,
    updated,
    brokerUrl,
    ...(caFile ? { caFile } : {}),
    ...(certs ? { certFile: certs.cert } : {}),
  };
}

/**
 * Writes a file that holds a secret, all at once (a new file renamed over the old: a crash leaves the
 * old or the new one, never half). New: mode 0600. Existing: its owner and group stay (root:gridlayer
 * lets the service read it), and it loses any access for others.
 */
export function writeSecretFile(path: string, text: string): void {
  if (!existsSync(path)) {
    writeFileSync(path, text, { mode: 0o600 });
    return;
  }
  const st = statSync(path);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: st.mode & 0o770 });
  try {
    chownSync(tmp, st.uid, st.gid);
  } catch {
    // not root: the file is ours already
  }
  renameSync(tmp, path);
}

export interface RotateResult {
  site: string;
  config: string;
}

/**
 * The gateway replaces its own credential: it logs in to the cloud with the current one (over TLS) and
 * writes the new one into its config; the old one is refused from then on and the session that used it
 * ends, so the agent must be restarted to log in with the new one.
 */
export async function rotateCredential(o: {
  cloud: string;
  config: string;
  apiCa?: string;
}): Promise<RotateResult> {
  const configPath = resolve(o.config);
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new EnrolError(`cannot read ${configPath}: ${(err as Error).message}`);
  }
  const site = doc.get('site');
  const password = doc.getIn(['uplink', 'password']);
  if (typeof site !== 'string' || typeof password !== 'string')
    throw new EnrolError(`${configPath}: no site and uplink.password to rotate: enrol with a code first`);
  const { res, keyPem } = await presentWithKey(
    `${apiBase(o.cloud)}/enrol/rotate`,
    { site, password },
    o.apiCa,
  );
  if (res.status !== 200) {
    const why = (res.body as { error?: string } | undefined)?.error ?? JSON.stringify(res.body);
    throw new EnrolError(`rotation refused (HTTP ${res.status}): ${why}`, res.status);
  }
  const got = res.body as Enrolled;
  doc.setIn(['uplink', 'password'], got.uplink.password);
  // A new key with the new certificate (the cloud revoked the old one); used where one was before.
  const certs = saveCertificate(configPath, keyPem, got);
  if (certs && /^(mqtts|wss):/.test(String(doc.getIn(['uplink', 'url']))))
    for (const [k, v] of Object.entries(certs)) doc.setIn(['uplink', k], v);
  writeSecretFile(configPath, doc.toString());
  return { site, config: configPath };
}
