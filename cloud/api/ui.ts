import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';

const page = join(dirname(fileURLToPath(import.meta.url)), 'ui', 'index.html');

/**
 * The small operator page at `/`: static HTML + JS, no build step, no CDN. It polls the API with a
 * token the user pastes (or passes as ?token=), so the page itself needs no auth.
 */
export function serveOperatorPage(app: Express) {
  const html = readFileSync(page, 'utf8');
  app.get('/', (_req, res) => {
    res
      .type('html')
      .set(
        'Content-Security-Policy',
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
      )
      .send(html);
  });
}
