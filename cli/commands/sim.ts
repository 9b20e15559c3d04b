import type { Command } from 'commander';
import { SimSite } from '../../sim-devices/site.ts';
import { intOption, numberOption } from '../options.ts';

export function register(program: Command): void {
  const sim = program.command('sim').description('simulated devices for testing and demos');
  sim
    .command('site')
    .description(
      'serve a simulated site (PV inverter unit 1, battery unit 2, meter unit 3) on one Modbus TCP port',
    )
    .option(
      '--modbus-port <port>',
      'Modbus TCP port (0 = any free port)',
      intOption('--modbus-port', 0, 65535),
      0,
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--lat <deg>', 'site latitude', numberOption('--lat', -90, 90), 52.37)
    .option('--lon <deg>', 'site longitude', numberOption('--lon', -180, 180), 4.9)
    .option(
      '--speed <x>',
      'simulated time runs this many times faster than real time',
      numberOption('--speed', 0.001, 100000),
      1,
    )
    .option('--seed <n>', 'seed for load noise and clouds', intOption('--seed', 0, 2 ** 31), 1)
    .option('--clouds', 'add seeded cloud variability to the PV')
    .option('--start <iso>', 'simulated start time (ISO 8601), default now')
    .action(
      async (opts: {
        modbusPort: number;
        host: string;
        lat: number;
        lon: number;
        speed: number;
        seed: number;
        clouds?: boolean;
        start?: string;
      }) => {
        const startMs = opts.start ? Date.parse(opts.start) : Date.now();
        if (Number.isNaN(startMs)) throw new Error(`--start: not an ISO 8601 time: ${opts.start}`);
        const site = new SimSite({
          port: opts.modbusPort,
          host: opts.host,
          lat: opts.lat,
          lon: opts.lon,
          speed: opts.speed,
          seed: opts.seed,
          clouds: opts.clouds,
          startMs,
        });
        await site.start();
        printSite(site);
        await untilInterrupted();
        await site.stop();
      },
    );
}

export function printSite(site: SimSite, name = 'simulated site'): void {
  console.log(`${name}: Modbus TCP ${site.host}:${site.port}`);
  console.log(
    `  unit 1  PV inverter      ${site.pv.ratedW} W  (SunSpec 1, 103, 120, 121, 123, 701, 702, 704, 705)`,
  );
  console.log(
    `  unit 2  battery          ${site.battery.capacityWh} Wh, ${site.battery.maxDischargeW} W  (SunSpec 1, 701, 702, 704, 713, 802, 124)`,
  );
  console.log(`  unit 3  meter at PCC     (SunSpec 1, 203)`);
  console.log(`  simulated time ${new Date(site.clock.now()).toISOString()} at ${site.clock.speed}x`);
}

export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
