import type { Command } from 'commander';
import { SimSite } from '../../sim-devices/site.ts';
import { printSite, untilInterrupted } from './sim.ts';

/** `gridlayer start` (what `npm start` runs): the main job on embedded defaults. */
export function register(program: Command): void {
  program
    .command('start')
    .description('run gridlayer on embedded defaults (today: a simulated site; see README)')
    .action(async () => {
      const base = Number(process.env.GRIDLAYER_SIM_BASE_PORT ?? 15020);
      const site = new SimSite({ port: base + 1, seed: 1 });
      await site.start();
      printSite(site, 'site 1');
      console.log(`\nTry: node bin/gridlayer.js scan --host 127.0.0.1 --port ${site.port} --units 1-3`);
      console.log('Ctrl-C stops.');
      await untilInterrupted();
      await site.stop();
    });
}
