import type { Command } from 'commander';

/**
 * Every `gridlayer` subcommand registers itself here, one module per command, so the CLI stays one
 * program whatever part of the system a command fronts. Modules load lazily: `gridlayer edge` on a
 * small gateway loads the edge command only, not the cloud, solvers and markets (memory matters there).
 */
type Register = (program: Command) => void;

const commands: Record<string, () => Promise<{ register: Register }>> = {
  start: () => import('./start.ts'),
  sim: () => import('./sim.ts'),
  scan: () => import('./scan.ts'),
  commission: () => import('./commission.ts'),
  edge: () => import('./edge.ts'),
  cloud: () => import('./cloud.ts'),
  forecast: () => import('./forecast.ts'),
  powerflow: () => import('./powerflow.ts'),
  dlmp: () => import('./dlmp.ts'),
  market: () => import('./market.ts'),
  user: () => import('./user.ts'),
};

/** Registers the command named in argv, or all of them (for help and unknown commands). */
export async function registerCommands(
  program: Command,
  argv: readonly string[] = process.argv,
): Promise<void> {
  const name = argv[2];
  const wanted = name !== undefined && name in commands ? [name] : Object.keys(commands);
  for (const n of wanted) (await commands[n]()).register(program);
}
