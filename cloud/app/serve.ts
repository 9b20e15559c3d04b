/**
 * Serves the operator app at `/`: one HTML shell, the hashed bundle under `/app/`. The CSP allows
 * scripts and styles from this origin only (nothing inline, no CDN); the app talks to `/api/v1` with the
 * session cookie (see docs/operator-app.md).
 */
import type { Express } from 'express';
import { type AppBundle, buildApp } from './build.ts';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const shell = (b: AppBundle) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridlayer</title>
<link rel="stylesheet" href="/app/${b.style}">
</head>
<body>
<div id="app"></div>
<noscript>The gridlayer operator app needs JavaScript.</noscript>
<script type="module" src="/app/${b.script}"></script>
</body>
</html>`;

/** Mounts the app; the bundle is built once, at the first request at the latest. */
export function serveApp(app: Express): { ready: Promise<unknown> } {
  const bundle = buildApp();
  // A build failure shows at the first request, with its reason, not as an unhandled rejection.
  bundle.catch(() => undefined);
  const headers = (res: import('express').Response) =>
    res
      .set('Content-Security-Policy', CSP)
      .set('X-Content-Type-Options', 'nosniff')
      .set('Referrer-Policy', 'no-referrer');
  app.get('/', async (_req, res, next) => {
    try {
      const b = await bundle;
      headers(res).set('Cache-Control', 'no-cache').type('html').send(shell(b));
    } catch (err) {
      next(err);
    }
  });
  app.get('/app/:file', async (req, res, next) => {
    try {
      const a = (await bundle).assets.get(req.params.file);
      if (!a) {
        res.status(404).json({ error: 'not found' });
        return;
      }
      headers(res).set('Cache-Control', 'public, max-age=31536000, immutable').type(a.type).send(a.body);
    } catch (err) {
      next(err);
    }
  });
  return { ready: bundle };
}
