import type { Command } from 'commander';
import { mosquittoAcl, mosquittoConfHints } from '../../cloud/broker/mosquitto-acl.ts';
import { loadCloudConfig } from '../../cloud/config.ts';
import { startCloud } from '../../cloud/service.ts';
import { WholesaleMarket } from '../../sim-devices/iso/wholesale.ts';

export function register(program: Command): void {
  program
    .command('cloud')
    .description(
      'Run the cloud DERMS: MQTT broker (embedded) or external-broker client, ingest, storage, REST API',
    )
    .option('-c, --config <file>', 'YAML config file (embedded defaults when omitted)')
    .option('--print-mosquitto-acl [cloudUser]', 'print the gateway ACL for an external Mosquitto and exit')
    .action(async (opts: { config?: string; printMosquittoAcl?: string | boolean }) => {
      if (opts.printMosquittoAcl) {
        const user = typeof opts.printMosquittoAcl === 'string' ? opts.printMosquittoAcl : undefined;
        process.stdout.write(
          `# mosquitto.conf:\n# ${mosquittoConfHints().split('\n').join('\n# ')}\n${mosquittoAcl(user)}`,
        );
        return;
      }
      const config = loadCloudConfig(opts.config);
      // The simulated ISO stands in for the wholesale counterpart until a real ISO gateway exists.
      const cloud = await startCloud(config, { iso: new WholesaleMarket({ seed: config.market.isoSeed }) });
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string) => {
          cloud.log.info({ signal: sig }, 'shutdown requested');
          resolve();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      });
      await cloud.stop();
    });
}
