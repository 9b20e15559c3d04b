import type { Command } from 'commander';
import { register as cloud } from './cloud.ts';
import { register as commission } from './commission.ts';
import { register as dlmp } from './dlmp.ts';
import { register as edge } from './edge.ts';
import { register as forecast } from './forecast.ts';
import { register as market } from './market.ts';
import { register as powerflow } from './powerflow.ts';
import { register as scan } from './scan.ts';
import { register as sim } from './sim.ts';
import { register as start } from './start.ts';

/**
 * Every `gridlayer` subcommand registers itself here, one module per command,
 * so the CLI stays one program whatever part of the system a command fronts.
 */
type Register = (program: Command) => void;

const registrations: Register[] = [
  start,
  sim,
  scan,
  cloud,
  edge,
  commission,
  forecast,
  powerflow,
  dlmp,
  market,
];

export function registerCommands(program: Command): void {
  for (const register of registrations) register(program);
}
