import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { ModelId } from '../../cloud/market/model/index.ts';
import { formatCents } from '../../cloud/market/model/index.ts';
import { type SimulationReport, simulateMarket } from '../../cloud/market/simulate/index.ts';
import { loadFeederCsv } from '../../cloud/network/index.ts';
import { WholesaleMarket } from '../../sim-devices/iso/wholesale.ts';
import { intOption } from '../options.ts';

export function register(program: Command): void {
  const market = program
    .command('market')
    .description('DSO distribution markets (six organizational models)');
  market
    .command('simulate')
    .description(
      'run one organizational model on a simulated fleet for whole days and print prices, schedules, delivery and settlement',
    )
    .requiredOption(
      '--model <1-6>',
      'organizational model 1..6 (1-2 ISO-run, 3-4 nodal DSO, 5-6 peer-to-peer)',
      intOption('--model', 1, 6),
    )
    .option('--sites <n>', 'number of simulated customer sites', intOption('--sites', 0, 100000), 20)
    .option('--days <d>', 'whole days to simulate', intOption('--days', 1, 366), 1)
    .option(
      '--network <dir>',
      'feeder directory with buses.csv and branches.csv (default: synthetic 120-bus feeder)',
    )
    .option('--base-kv <kv>', 'line-to-line base voltage of a --network feeder (kV)', Number, 12.66)
    .option('--seed <s>', 'seed for the fleet, bids and noise', intOption('--seed', 0, 2 ** 31), 1)
    .option(
      '--revenue-model <kind>',
      'DMO revenue model: subscription | transaction | network_use',
      revenueModel,
      'transaction',
    )
    .option('--json', 'print the full report as JSON')
    .action(
      async (opts: {
        model: number;
        sites: number;
        days: number;
        network?: string;
        baseKv: number;
        seed: number;
        revenueModel: 'subscription' | 'transaction' | 'network_use';
        json?: boolean;
      }) => {
        const network = opts.network
          ? await loadFeederCsv({
              buses: join(opts.network, 'buses.csv'),
              branches: join(opts.network, 'branches.csv'),
              base_kv: opts.baseKv,
            })
          : undefined;
        const report = await simulateMarket({
          model: opts.model as ModelId,
          sites: opts.sites,
          days: opts.days,
          seed: opts.seed,
          iso: new WholesaleMarket({ seed: opts.seed }),
          revenueModel: opts.revenueModel,
          ...(network ? { network } : {}),
          progress: (msg) => process.stderr.write(`${msg}\n`),
        });
        if (opts.json) console.log(JSON.stringify(report, null, 2));
        else printReport(report);
        if (!report.books.balanced) process.exitCode = 1;
      },
    );
}

function revenueModel(raw: string): string {
  if (!['subscription', 'transaction', 'network_use'].includes(raw)) {
    throw new InvalidArgumentError('--revenue-model must be subscription, transaction or network_use');
  }
  return raw;
}

function printReport(r: SimulationReport): void {
  console.log(
    `model ${r.model}: ${r.name} (${r.marketForm}); ${r.sites} sites, ${r.resources} resources, ${r.buses}-bus feeder, ${r.days} day(s), seed ${r.seed}`,
  );
  console.log(
    `roles: ${Object.entries(r.roles)
      .map(([k, v]) => `${k}=${v ?? 'none'}`)
      .join(' ')}`,
  );
  if (r.refusals.length) {
    console.log('refused bids:');
    for (const f of r.refusals) console.log(`  ${f.code} x${f.count}  e.g. ${f.example}`);
  }
  console.log('\nhour (UTC)               LMP $/MWh  DLMP min..max   import kW   DER net kW');
  for (const h of r.hourly) {
    console.log(
      `${h.hour}  ${h.lmp.toFixed(2).padStart(9)}  ${h.dlmp_min.toFixed(2).padStart(7)}..${h.dlmp_max.toFixed(2).padEnd(7)} ${h.import_kw.toFixed(1).padStart(10)} ${h.der_net_kw.toFixed(1).padStart(12)}`,
    );
  }
  console.log(
    `\ndelivered: ${r.delivered.injected_mwh} MWh injected, ${r.delivered.withdrawn_mwh} MWh withdrawn by DER; area import ${r.delivered.area_import_mwh} MWh`,
  );
  if (r.trades !== undefined) console.log(`P2P trades: ${r.trades}`);
  console.log(
    `DGO: ${r.dgo.curtailed_mwh} MWh curtailed, ${r.dgo.emergency_dispatches} emergency dispatches, ${r.dgo.curtailed_trades} trades curtailed, ${r.dgo.rejected_trades} rejected`,
  );
  for (const a of r.ancillary)
    console.log(
      `ISO ${a.product}: ${a.awarded_mwh} MW-h awarded, ${a.held_mwh} held (${a.curtailed_awards} awards cut by the DGO screen), paid ${formatCents(a.paid_cents)}`,
    );
  console.log('\nsettlement (net, + = received):');
  for (const p of r.participants)
    console.log(`  ${p.account.padEnd(16)} ${formatCents(p.net_cents).padStart(14)}`);
  console.log(`\nDMO (${r.dmo.account}) revenue: ${formatCents(r.dmo.revenue_cents)}`);
  console.log(`congestion/loss surplus to the DGO: ${formatCents(r.congestion_surplus_cents)}`);
  console.log(
    `books: ${r.books.periods} periods, ${r.books.balanced ? 'balanced to the cent' : 'NOT BALANCED'} (max |sum| ${r.books.max_abs_sum_cents} c, max |clearing| ${r.books.max_abs_clearing_cents} c)`,
  );
}
