import type { Command } from 'commander';
import { loadOffersCsv } from '../../cloud/network/csv.ts';
import { dlmpJson } from '../../cloud/network/format.ts';
import { OpfError, solveDlmp } from '../../cloud/network/opf.ts';
import { addFeederOptions, type FeederOptions, finiteNumber, loadFeeder } from '../feeder-options.ts';

interface Options extends FeederOptions {
  offers?: string;
  lmp: number;
  json?: boolean;
}

export function register(program: Command): void {
  addFeederOptions(
    program
      .command('dlmp')
      .description(
        'distribution LMPs per bus (energy + loss + congestion + voltage) from a linearized OPF with flexibility offers',
      ),
  )
    .option('--offers <file>', 'offers.csv: bus,direction(up|down),quantity_kw,price_per_mwh[,id]')
    .requiredOption(
      '--lmp <$/MWh>',
      'energy price at the T-D interface (the ISO LMP), $/MWh',
      finiteNumber('--lmp'),
    )
    .option('--json', 'print one JSON object')
    .action(async (o: Options) => {
      const network = await loadFeeder(o);
      const offers = o.offers ? await loadOffersCsv(o.offers, network) : [];
      let r: Awaited<ReturnType<typeof solveDlmp>>;
      try {
        r = await solveDlmp(network, { lmp_per_mwh: o.lmp, offers });
      } catch (err) {
        if (err instanceof OpfError) {
          if (o.json)
            console.log(
              JSON.stringify({ error: err.message, base_case_violations: err.violations }, null, 2),
            );
          else {
            console.error(`gridlayer: ${err.message}`);
            for (const v of err.violations) console.error(`  base case: ${JSON.stringify(v)}`);
          }
          process.exitCode = 1;
          return;
        }
        throw err;
      }
      if (o.json) {
        console.log(JSON.stringify(dlmpJson(r), null, 2));
        return;
      }
      const f = (v: number, d = 2) => v.toFixed(d);
      console.log(
        `interface price ${o.lmp} $/MWh; import ${f(r.import_w / 1e3, 1)} kW, losses ${f(r.losses_w / 1e3, 1)} kW; ` +
          `${r.converged ? 'converged' : 'NOT converged'} in ${r.iterations} iteration(s)`,
      );
      for (const b of r.binding.thermal)
        console.log(`binding rating: branch ${b.branch} (${f(b.shadow_per_mwh)} $/MWh per MVA)`);
      for (const b of r.binding.voltage) console.log(`binding voltage: bus ${b.bus} ${b.limit}`);
      for (const c of r.offers.filter((x) => x.cleared_w > 0.5)) {
        console.log(
          `cleared ${c.id}: ${c.direction} ${f(c.cleared_w / 1e3, 1)} of ${f(c.quantity_w / 1e3, 1)} kW at bus ${c.bus} (${c.price_per_mwh} $/MWh)`,
        );
      }
      console.log('\nbus        v_pu     dlmp   energy     loss  congest  voltage   ($/MWh)');
      for (const b of r.buses) {
        const cols = [
          b.dlmp_per_mwh,
          b.energy_per_mwh,
          b.loss_per_mwh,
          b.congestion_per_mwh,
          b.voltage_per_mwh,
        ];
        console.log(`${b.bus.padEnd(8)} ${f(b.v_pu, 4)} ${cols.map((c) => f(c).padStart(8)).join(' ')}`);
      }
    });
}
