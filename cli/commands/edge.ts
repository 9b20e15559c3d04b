import type { Command } from 'commander';

/** `gridlayer edge --config <file>`: runs the site gateway agent until SIGTERM/SIGINT. */
export function register(program: Command): void {
  program
    .command('edge')
    .description('run the edge agent: poll site devices, publish telemetry over MQTT, apply setpoints')
    .requiredOption('-c, --config <file>', 'edge configuration file (YAML)')
    .option('--check', 'validate the configuration and exit')
    .action(async (opts: { config: string; check?: boolean }) => {
      const { loadConfig } = await import('../../edge/config.ts');
      const config = loadConfig(opts.config);
      if (opts.check) {
        console.log(`${opts.config}: OK (site ${config.site}, ${config.devices.length} device entries)`);
        return;
      }
      const { EdgeAgent } = await import('../../edge/agent.ts');
      const agent = new EdgeAgent({ config });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        agent.log.info({ signal }, 'stopping');
        agent.stop().then(
          () => process.exit(0),
          (err) => {
            agent.log.error({ err: String(err) }, 'stop failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      await agent.start();
    });
}
