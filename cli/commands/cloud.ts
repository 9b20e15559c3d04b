import type { Command } from 'commander';
import { mosquittoAcl, mosquittoConf } from '../../cloud/broker/mosquitto-acl.ts';
import { loadCloudConfig } from '../../cloud/config.ts';
import { STOP_BOUND_MS, startCloud } from '../../cloud/service.ts';
import { MAX_PAYLOAD_BYTES } from '../../protocols/mqtt/payloads.ts';
import { WholesaleMarket } from '../../sim-devices/iso/wholesale.ts';

interface CloudOpts {
  config?: string;
  printMosquittoAcl?: string | boolean;
  printMosquittoConf?: boolean;
  mosquittoPort: string;
  mosquittoHost: string;
  mosquittoPasswd: string;
  mosquittoAclFile: string;
}

export function register(program: Command): void {
  program
    .command('cloud')
    .description(
      'Run the cloud DERMS: MQTT broker (embedded) or external-broker client, ingest, storage, REST API',
    )
    .option('-c, --config <file>', 'YAML config file (embedded defaults when omitted)')
    .option(
      '--print-mosquitto-acl [cloudUser]',
      'print the gateway ACL file for an external Mosquitto and exit',
    )
    .option('--print-mosquitto-conf', 'print a mosquitto.conf for an external Mosquitto and exit')
    .option('--mosquitto-port <port>', "with --print-mosquitto-conf: the gateways' listener port", '8883')
    .option('--mosquitto-host <host>', 'with --print-mosquitto-conf: interface to bind', '127.0.0.1')
    .option('--mosquitto-passwd <file>', 'with --print-mosquitto-conf', '/etc/mosquitto/gridlayer.passwd')
    .option('--mosquitto-acl-file <file>', 'with --print-mosquitto-conf', '/etc/mosquitto/gridlayer.acl')
    .action(async (opts: CloudOpts) => {
      if (opts.printMosquittoAcl) {
        const user = typeof opts.printMosquittoAcl === 'string' ? opts.printMosquittoAcl : undefined;
        process.stdout.write(mosquittoAcl(user));
        return;
      }
      if (opts.printMosquittoConf) {
        const port = Number(opts.mosquittoPort);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new Error(`--mosquitto-port must be a port number 1..65535, got ${opts.mosquittoPort}`);
        process.stdout.write(
          mosquittoConf({
            port,
            host: opts.mosquittoHost,
            passwordFile: opts.mosquittoPasswd,
            aclFile: opts.mosquittoAclFile,
            maxPacketBytes: MAX_PAYLOAD_BYTES + 4096,
          }),
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
      // stop() is bounded step by step; this is the last resort should anything still hold the loop.
      setTimeout(() => {
        cloud.log.error({ ms: STOP_BOUND_MS + 2000 }, 'stop did not finish in time; exiting');
        process.exit(1);
      }, STOP_BOUND_MS + 2000).unref();
      await cloud.stop();
      process.exit(0);
    });
}
