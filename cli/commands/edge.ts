import type { Command } from 'commander';

/** `gridlayer edge --config <file>`: runs the site gateway agent until SIGTERM/SIGINT. */
export function register(program: Command): void {
  program
    .command('edge')
    .description('run the edge agent: poll site devices, publish telemetry over MQTT, apply setpoints')
    .requiredOption('-c, --config <file>', 'edge configuration file (YAML)')
    .option('--check', 'validate the configuration and exit')
    .action(async (opts: { config: string; check?: boolean }) => {
      const { loadDeployableConfig } = await import('../../edge/config.ts');
      // Placeholder secrets and missing TLS files fail here (and in --check), naming the key.
      const config = loadDeployableConfig(opts.config);
      if (opts.check) {
        console.log(`${opts.config}: OK (site ${config.site}, ${config.devices.length} device entries)`);
        return;
      }
      const { EdgeAgent, STOP_BOUND_MS } = await import('../../edge/agent.ts');
      const agent = new EdgeAgent({ config });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        agent.log.info({ signal, boundMs: STOP_BOUND_MS }, 'stopping');
        // stop() bounds each step itself; this is the last resort should anything still hang.
        setTimeout(() => {
          agent.log.error({ boundMs: STOP_BOUND_MS }, 'stop exceeded its bound: exiting anyway');
          process.exit(1);
        }, STOP_BOUND_MS + 1000).unref();
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
