import type { Command } from 'commander';
import { findViolations } from '../../cloud/network/feasibility.ts';
import { powerFlowJson } from '../../cloud/network/format.ts';
import { PowerFlowError, solvePowerFlow } from '../../cloud/network/powerflow.ts';
import { addFeederOptions, type FeederOptions, loadFeeder, positiveNumber } from '../feeder-options.ts';

interface Options extends FeederOptions {
  json?: boolean;
  tolerance?: number;
  maxIterations?: number;
}

export function register(program: Command): void {
  addFeederOptions(
    program
      .command('powerflow')
      .description(
        'exact AC power flow of a radial feeder (backward/forward sweep) from buses.csv and branches.csv',
      ),
  )
    .option('--json', 'print one JSON object (kW, kvar, per unit, degrees)')
    .option(
      '--tolerance <pu>',
      'largest voltage change between sweeps that counts as converged (default 1e-9)',
      positiveNumber('--tolerance'),
    )
    .option('--max-iterations <n>', 'sweep limit (default 100)', positiveNumber('--max-iterations'))
    .action(async (o: Options) => {
      const network = await loadFeeder(o);
      let pf: ReturnType<typeof solvePowerFlow>;
      try {
        pf = solvePowerFlow(network, { tolerance: o.tolerance, maxIterations: o.maxIterations });
      } catch (err) {
        if (err instanceof PowerFlowError && o.json) {
          console.log(JSON.stringify({ converged: false, iterations: err.iterations, error: err.message }));
          process.exitCode = 1;
          return;
        }
        throw err;
      }
      if (o.json) {
        console.log(JSON.stringify(powerFlowJson(pf), null, 2));
        return;
      }
      const f = (v: number, d = 1) => v.toFixed(d);
      console.log(
        `${network.buses.length} buses, ${network.branches.length} branches; converged in ${pf.iterations} sweeps`,
      );
      console.log(
        `import ${f(pf.slack_p_w / 1e3)} kW, ${f(pf.slack_q_var / 1e3)} kvar; losses ${f(pf.losses_w / 1e3, 2)} kW, ${f(pf.losses_var / 1e3, 2)} kvar`,
      );
      console.log(
        `min voltage ${f(pf.min_voltage.v_pu, 4)} pu at bus ${pf.min_voltage.bus}; max ${f(pf.max_voltage.v_pu, 4)} pu at bus ${pf.max_voltage.bus}`,
      );
      const violations = findViolations(network, pf);
      if (violations.length) {
        console.log(`${violations.length} limit violation(s):`);
        for (const v of violations) {
          if (v.kind === 'voltage')
            console.log(
              `  bus ${v.bus}: ${f(v.v_pu, 4)} pu ${v.limit === 'min' ? '<' : '>'} ${v.limit_pu} pu`,
            );
          else if (v.kind === 'thermal') console.log(`  branch ${v.branch}: loading ${f(v.loading_pct)} %`);
        }
      }
      console.log('\nbus        v_pu   angle_deg');
      for (const b of pf.buses)
        console.log(`${b.bus.padEnd(8)} ${f(b.v_pu, 4)}  ${f(b.angle_deg, 3).padStart(8)}`);
    });
}
