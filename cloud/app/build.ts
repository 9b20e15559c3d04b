/**
 * Bundles the operator app (cloud/app/src, Preact + uPlot) with esbuild, in memory, when the cloud's API
 * starts: no build step between a clone and a run, and no bundle in git. Takes ~0.2 s; the result is
 * content-hashed so browsers may cache it for good.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface AppAsset {
  body: Buffer;
  type: string;
}

export interface AppBundle {
  /** `main.<hash>.js` and `main.<hash>.css` → contents. */
  assets: Map<string, AppAsset>;
  script: string;
  style: string;
}

const here = dirname(fileURLToPath(import.meta.url));
// From the sources: beside this file. From the bundled CLI (deploy/build.ts): dist/app/.
const appDir = existsSync(join(here, 'src', 'main.tsx')) ? here : join(here, 'app');

export async function buildApp(): Promise<AppBundle> {
  const out = await build({
    entryPoints: [join(appDir, 'src', 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: '/app',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
    tsconfig: join(appDir, 'tsconfig.json'),
  });
  const assets = new Map<string, AppAsset>();
  let script = '';
  let style = '';
  for (const f of out.outputFiles) {
    const ext = f.path.endsWith('.css') ? 'css' : 'js';
    const hash = createHash('sha256').update(f.contents).digest('hex').slice(0, 12);
    const name = `main.${hash}.${ext}`;
    assets.set(name, {
      body: Buffer.from(f.contents),
      type: ext === 'css' ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8',
    });
    if (ext === 'css') style = name;
    else script = name;
  }
  return { assets, script, style };
}
