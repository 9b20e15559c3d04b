import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { intOption } from '../options.ts';

export interface ApiOpts {
  api: string;
  token?: string;
  ca?: string;
}

/** Calls the cloud API as an operator or installer (token from --token or GRIDLAYER_TOKEN). */
export async function callApi<T>(opts: ApiOpts, method: string, path: string, body?: unknown): Promise<T> {
  const token = opts.token ?? process.env.GRIDLAYER_TOKEN;
  if (!token) throw new Error('an API token is needed: --token or the GRIDLAYER_TOKEN environment variable');
  const { apiBase, httpsJson } = await import('../../edge/enrol.ts');
  let ca: string | undefined;
  if (opts.ca)
    try {
      ca = readFileSync(opts.ca, 'utf8');
    } catch (err) {
      throw new Error(`--ca: cannot read ${opts.ca}: ${(err as Error).message}`);
    }
  const base = apiBase(opts.api);
  // Plain http only to the cloud's own loopback (a token travels in every call).
  const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(`${base}/`);
  const r = await httpsJson<T>(`${base}${path}`, { method, body, token, ca, allowHttp: loopback });
  if (r.status >= 300) {
    const why = (r.body as { error?: string } | undefined)?.error ?? JSON.stringify(r.body);
    throw new Error(`${method} ${path}: HTTP ${r.status}: ${why}`);
  }
  return r.body;
}

function apiOptions(c: Command): Command {
  return c
    .requiredOption('--api <url>', "the cloud's API: https://host[:port] (http:// only on loopback)")
    .option('--token <token>', 'API token (default: the GRIDLAYER_TOKEN environment variable)')
    .option('--ca <file>', "PEM file of the CA that signed the cloud API's certificate");
}

/** `gridlayer site …`: a site's gateway enrolment code and its credential (rotate, revoke), from the cloud API. */
export function register(program: Command): void {
  const site = program.command('site').description("a site's gateway enrolment and credentials (cloud API)");
  apiOptions(
    site
      .command('enrolment <site>')
      .description(
        'create the site if new and issue a one-time enrolment code for its gateway, with its QR code',
      ),
  )
    .option(
      '--ttl <seconds>',
      'code lifetime (default: the cloud enrolment.codeTtlSeconds)',
      intOption('--ttl', 60, 10 ** 9),
    )
    .option('--svg <file>', 'also write the QR code as an SVG file')
    .option('--no-qr', 'do not print the QR code in the terminal')
    .action(async (id: string, opts: ApiOpts & { ttl?: number; svg?: string; qr: boolean }) => {
      const r = await callApi<{ code: string; expiresAt: number; qrSvg: string }>(
        opts,
        'POST',
        `/sites/${encodeURIComponent(id)}/enrolment`,
        opts.ttl ? { ttlSeconds: opts.ttl } : {},
      );
      process.stdout.write(`site ${id}\ncode ${r.code}\nexpires ${new Date(r.expiresAt).toISOString()}\n`);
      if (opts.svg) {
        writeFileSync(opts.svg, r.qrSvg);
        process.stdout.write(`QR code: ${opts.svg}\n`);
      }
      if (opts.qr) {
        const QRCode = (await import('qrcode')).default;
        process.stdout.write(await QRCode.toString(r.code, { type: 'terminal', small: true }));
      }
      process.stdout.write(`on the gateway: gridlayer enrol --cloud <this cloud> --code ${r.code}\n`);
    });
  apiOptions(
    site
      .command('rotate <site>')
      .description(
        'issue a new gateway credential: the old one is refused and its session ends; the password is shown once',
      ),
  ).action(async (id: string, opts: ApiOpts) => {
    const r = await callApi<{ username: string; password: string }>(
      opts,
      'POST',
      `/sites/${encodeURIComponent(id)}/credentials`,
    );
    process.stdout.write(`username ${r.username}\npassword ${r.password}\n`);
  });
  apiOptions(
    site
      .command('revoke <site>')
      .description("revoke the site's gateway credential: its logins are refused and its live session ends"),
  ).action(async (id: string, opts: ApiOpts) => {
    await callApi(opts, 'DELETE', `/sites/${encodeURIComponent(id)}/credentials`);
    process.stdout.write(
      `site ${id}: gateway credential revoked; re-enrol with a new code to bring it back\n`,
    );
  });
}
