import { readFileSync } from 'node:fs';
import type { Command } from 'commander';

const readPem = (flag: string, file: string | undefined) => {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
};

/**
 * `gridlayer enrol --cloud https://… --code …`: the gateway presents its one-time code over TLS and
 * writes the MQTT credential it receives into its edge config.
 */
export function register(program: Command): void {
  program
    .command('enrol')
    .description(
      "enrol this gateway: present the site's one-time code to the cloud over TLS, write the MQTT credential into the edge config",
    )
    .requiredOption('--cloud <url>', "the cloud's API: https://host[:port]")
    .requiredOption(
      '--code <code>',
      'the one-time enrolment code (gridlayer site enrolment, or the operator app)',
    )
    .option(
      '-c, --config <file>',
      'edge config to write (site and uplink updated when it exists)',
      '/etc/gridlayer/edge.yaml',
    )
    .option(
      '--ca <file>',
      "PEM file of the CA that signed the cloud API's certificate (else the system's CAs)",
    )
    .option('--broker <url>', 'broker URL, when the cloud names none or to override it (mqtts://host:8883)')
    .option('--buffer <path>', 'buffer file for a new config', '/var/lib/gridlayer/buffer.db')
    .action(
      async (opts: {
        cloud: string;
        code: string;
        config: string;
        ca?: string;
        broker?: string;
        buffer: string;
      }) => {
        const { enrol } = await import('../../edge/enrol.ts');
        const r = await enrol({
          cloud: opts.cloud,
          code: opts.code,
          config: opts.config,
          apiCa: readPem('--ca', opts.ca),
          broker: opts.broker,
          bufferPath: opts.buffer,
        });
        process.stdout.write(
          `enrolled as site ${r.site}: ${r.updated ? 'updated' : 'wrote'} ${r.config} (broker ${r.brokerUrl}${r.caFile ? `, CA ${r.caFile}` : ''})\n`,
        );
        if (!r.updated)
          process.stdout.write(
            `next: gridlayer commission … --uplink-from ${r.config} -o <dir> to add the devices\n`,
          );
      },
    );
}
