import type { Command } from 'commander';
import { type DemoSummary, demoCloudConfig, setUpDemo } from '../demo.ts';
import { type Fleet, type FleetOptions, startFleet } from '../fleet.ts';
import { untilInterrupted } from './sim.ts';

function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer ${min}..${max}, got ${raw}`);
  return n;
}

/** `gridlayer start` (what `npm start` runs): the whole system on embedded defaults, set up as a demo. */
export function register(program: Command): void {
  program
    .command('start')
    .description(
      'run the cloud and a fleet of simulated sites with their edge agents, on embedded defaults, set up as a demo (history, feeder, market, users)',
    )
    .option('--speed <x>', 'simulated time runs this many times faster than real time', '1')
    .option('--history-days <n>', 'days of simulated telemetry backfilled per site (demo)', '10')
    .option(
      '--gate-minutes <m>',
      "minutes after the start at which today's day-ahead gate closes (demo)",
      '3',
    )
    .option('--no-demo', 'only the cloud and the fleet: no history, feeder, market demo timing or demo users')
    .action(async (opts: { speed: string; historyDays: string; gateMinutes: string; demo: boolean }) => {
      const speed = Number(opts.speed);
      if (!(speed > 0)) throw new Error('--speed must be a positive number');
      const historyDays = Number(opts.historyDays);
      if (!Number.isInteger(historyDays) || historyDays < 0 || historyDays > 60)
        throw new Error('--history-days must be an integer 0..60');
      const gateMinutes = Number(opts.gateMinutes);
      if (!(gateMinutes >= 0 && gateMinutes <= 1440)) throw new Error('--gate-minutes must be 0..1440');
      const sites = envInt('GRIDLAYER_SITES', 3, 1, 200);
      const apiPort = envInt('PORT', 8080, 0, 65535);
      const mqttPort = envInt('MQTT_PORT', 1883, 0, 65535);
      const simBasePort = envInt('GRIDLAYER_SIM_BASE_PORT', 15020, 0, 65535 - sites);
      const t0 = Date.now();
      console.log(`starting the cloud and ${sites} simulated site(s)…`);
      const fleetOptions: FleetOptions = {
        sites,
        apiPort,
        mqttPort,
        simBasePort,
        speed,
        token: process.env.GRIDLAYER_BOOTSTRAP_TOKEN || undefined,
        dataDir: process.env.GRIDLAYER_DATA_DIR || undefined,
        ...(opts.demo && { cloud: demoCloudConfig({ daGateAfterStartMinutes: gateMinutes }) }),
      };
      const fleet = await startFleet(fleetOptions);
      // Ctrl-C during the set-up stops too (within the cloud's stop bound).
      const interrupted = untilInterrupted();
      let demo: DemoSummary | undefined;
      try {
        if (opts.demo) {
          const setup = setUpDemo(fleet, fleetOptions, {
            historyDays,
            daGateAfterStartMinutes: gateMinutes,
            progress: (line) => console.log(line),
          });
          // Interrupted half-way: the set-up's later failure (the fleet stopping under it) is not news.
          setup.catch(() => undefined);
          demo = await Promise.race([setup, interrupted.then(() => undefined)]);
        } else
          await fleet.api('POST', '/groups', {
            id: 'fleet',
            name: 'All simulated sites',
            kind: 'vpp',
            sites: fleet.sites.map((s) => s.id),
          });
      } catch (err) {
        await fleet.stop();
        throw err;
      }
      if (!opts.demo || demo) printRunning(fleet, demo, Date.now() - t0);
      await interrupted;
      console.log('stopping…');
      await fleet.stop();
    });
}

function printRunning(fleet: Fleet, demo: DemoSummary | undefined, readyMs: number): void {
  console.log(`\ngridlayer is running (ready in ${(readyMs / 1000).toFixed(1)} s)\n`);
  console.log(`  operator app    ${fleet.apiUrl}/`);
  console.log(`  REST API        ${fleet.apiUrl}/api/v1  (OpenAPI: ${fleet.apiUrl}/api/v1/openapi.json)`);
  console.log(`  admin token     ${fleet.token}  (bootstrap operator "admin")`);
  console.log(`  MQTT broker     ${fleet.mqttUrl}`);
  console.log(`  data folder     ${fleet.dataDir}`);
  for (const s of fleet.sites) {
    console.log(
      `  ${s.id.padEnd(14)}  Modbus TCP 127.0.0.1:${s.sim.port} (unit 1 PV, 2 battery, 3 meter), edge agent connected as ${s.gateway.username}${demo ? `, feeder bus ${demo.buses[s.id]}` : ''}`,
    );
  }
  if (demo) {
    console.log(
      `\n  history         ${demo.historyDays} days, ${demo.samples} samples backfilled in ${(demo.backfillMs / 1000).toFixed(1)} s; forecasts fitted in ${(demo.forecastMs / 1000).toFixed(1)} s (${demo.forecasts.ok} ok${demo.forecasts.failed.length ? `, not made: ${demo.forecasts.failed.join('; ')}` : ''})`,
    );
    console.log(
      `  market          model 4, demo timing: today's day-ahead gate closes ${new Date(demo.daGateClosesAt).toISOString()}, then the cloud clears it and every 5-minute RT interval`,
    );
    console.log(`  VPPs            fleet (all sites), flexco-vpp (${demo.portfolios.aggregator.join(', ')})`);
    console.log('\n  demo users (user / password / API token):');
    for (const u of demo.users)
      console.log(`    ${u.id.padEnd(12)} ${u.password}  ${u.token}  ${u.role}, acts for ${u.actor}`);
    if (!demo.users.every((u) => u.passwordSet))
      console.log('    (passwords are planned: sign in with the token until password login is available)');
    const p = demo.users.find((u) => u.id === 'participant')!;
    console.log(`\nTry: curl -H "authorization: Bearer ${p.token}" ${fleet.apiUrl}/api/v1/market/bids`);
  } else console.log(`\nTry: curl -H "authorization: Bearer ${fleet.token}" ${fleet.apiUrl}/api/v1/sites`);
  console.log('Ctrl-C stops everything.');
}
