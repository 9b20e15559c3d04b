import type { Command } from 'commander';
import { startFleet } from '../fleet.ts';
import { untilInterrupted } from './sim.ts';

function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer ${min}..${max}, got ${raw}`);
  return n;
}

/** `gridlayer start` (what `npm start` runs): the whole system on embedded defaults. */
export function register(program: Command): void {
  program
    .command('start')
    .description('run the cloud and a fleet of simulated sites with their edge agents, on embedded defaults')
    .option('--speed <x>', 'simulated time runs this many times faster than real time', '1')
    .action(async (opts: { speed: string }) => {
      const speed = Number(opts.speed);
      if (!(speed > 0)) throw new Error('--speed must be a positive number');
      const sites = envInt('GRIDLAYER_SITES', 3, 1, 200);
      const apiPort = envInt('PORT', 8080, 0, 65535);
      const mqttPort = envInt('MQTT_PORT', 1883, 0, 65535);
      const simBasePort = envInt('GRIDLAYER_SIM_BASE_PORT', 15020, 0, 65535 - sites);
      console.log(`starting the cloud and ${sites} simulated site(s)…`);
      const fleet = await startFleet({
        sites,
        apiPort,
        mqttPort,
        simBasePort,
        speed,
        token: process.env.GRIDLAYER_BOOTSTRAP_TOKEN || undefined,
        dataDir: process.env.GRIDLAYER_DATA_DIR || undefined,
      });
      // Every site in one VPP, so the operator page and a dispatch work straight away.
      await fleet.api('POST', '/groups', {
        id: 'fleet',
        name: 'All simulated sites',
        kind: 'vpp',
        sites: fleet.sites.map((s) => s.id),
      });
      console.log(`\ngridlayer is running\n`);
      console.log(`  operator page   ${fleet.apiUrl}/?token=${fleet.token}`);
      console.log(`  REST API        ${fleet.apiUrl}/api/v1  (OpenAPI: ${fleet.apiUrl}/api/v1/openapi.json)`);
      console.log(`  operator token  ${fleet.token}`);
      console.log(`  MQTT broker     ${fleet.mqttUrl}`);
      console.log(`  data folder     ${fleet.dataDir}`);
      for (const s of fleet.sites) {
        console.log(
          `  ${s.id.padEnd(14)}  Modbus TCP 127.0.0.1:${s.sim.port} (unit 1 PV, 2 battery, 3 meter), edge agent connected as ${s.gateway.username}`,
        );
      }
      console.log(`\nTry: curl -H "authorization: Bearer ${fleet.token}" ${fleet.apiUrl}/api/v1/sites`);
      console.log('Ctrl-C stops everything.');
      await untilInterrupted();
      console.log('stopping…');
      await fleet.stop();
    });
}
