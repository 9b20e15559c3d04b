// The one HiGHS loader for every optimisation in the cloud (network OPF, VPP allocation, market clearing).
import type { Highs } from 'highs';
import * as highsModule from 'highs';

type Loader = () => Promise<Highs>;

// highs ships ESM (default export = loader) but its .d.ts is typed as CommonJS, which TypeScript
// under NodeNext sees as a namespace whose `default` is the loader. Accept both shapes.
const mod = highsModule as unknown as { default: Loader | { default: Loader } };
const loadHighs: Loader = typeof mod.default === 'function' ? mod.default : mod.default.default;

let instance: Promise<Highs> | undefined;

/**
 * The HiGHS LP solver (WebAssembly, loaded once from the package's own highs.wasm; no network).
 * Solves are synchronous once loaded.
 */
export function getHighs(): Promise<Highs> {
  instance ??= loadHighs();
  return instance;
}
