import { type Command, InvalidArgumentError } from 'commander';
import { loadFeederCsv } from '../cloud/network/csv.ts';
import type { Network } from '../cloud/network/model.ts';

/** Options shared by the commands that load a feeder from buses.csv and branches.csv. */
export interface FeederOptions {
  buses: string;
  branches: string;
  baseKv: number;
  slackVoltage?: number;
  vmin?: number;
  vmax?: number;
}

export function positiveNumber(label: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${label} must be a positive number`);
    return n;
  };
}

export function finiteNumber(label: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${label} must be a number`);
    return n;
  };
}

export function addFeederOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--buses <file>', 'buses.csv: bus,type,p_kw,q_kvar[,vmin_pu,vmax_pu][,gen_kw,gen_kvar]')
    .requiredOption(
      '--branches <file>',
      'branches.csv: from_bus,to_bus,r_ohm,x_ohm[,in_service][,rating_kva]',
    )
    .requiredOption('--base-kv <kV>', 'base voltage, kV line-to-line', positiveNumber('--base-kv'))
    .option(
      '--slack-voltage <pu>',
      'voltage held at the slack bus, per unit (default 1.0)',
      positiveNumber('--slack-voltage'),
    )
    .option(
      '--vmin <pu>',
      'lower voltage limit where buses.csv has no vmin_pu (default 0.95)',
      positiveNumber('--vmin'),
    )
    .option(
      '--vmax <pu>',
      'upper voltage limit where buses.csv has no vmax_pu (default 1.05)',
      positiveNumber('--vmax'),
    );
}

export function loadFeeder(o: FeederOptions): Promise<Network> {
  return loadFeederCsv({
    buses: o.buses,
    branches: o.branches,
    base_kv: o.baseKv,
    slack_voltage_pu: o.slackVoltage,
    default_vmin_pu: o.vmin,
    default_vmax_pu: o.vmax,
  });
}
