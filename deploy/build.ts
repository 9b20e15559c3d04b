/**
 * `npm run build`: bundles the CLI into dist/ as plain JavaScript so a gateway runs the edge agent
 * without the TypeScript loader (tsx). That loader alone costs ~35 MB of RSS — a third of a small
 * gateway's budget. Packages stay external (resolved from node_modules at run time) and each
 * subcommand stays its own lazily loaded chunk, so `edge` loads no cloud, solver or market code.
 */
import { copyFileSync, cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `npm run build -- <dir>` builds elsewhere (inside the repo, so node_modules resolves); tests use that.
const out = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');
rmSync(out, { recursive: true, force: true });
await build({
  // The T-D curve worker is loaded by path at run time (cloud/market/clearing/curve-parallel.ts).
  entryPoints: {
    main: join(root, 'cli/main.ts'),
    'curve-worker': join(root, 'cloud/market/clearing/curve-worker.ts'),
  },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
// The operator app is bundled when the cloud starts (cloud/app/build.ts), from its sources in dist/app/.
mkdirSync(join(out, 'app'), { recursive: true });
cpSync(join(root, 'cloud/app/src'), join(out, 'app/src'), { recursive: true });
copyFileSync(join(root, 'cloud/app/tsconfig.json'), join(out, 'app/tsconfig.json'));
console.log(`built ${out}/main.js (run: node dist/main.js <command>)`);
