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
    .option('--code <code>', 'the one-time enrolment code (gridlayer site enrolment, or the operator app)')
    .option(
      '--rotate',
      'instead of a code: replace the credential in --config with a new one, logging in with the current one (restart the agent after)',
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
        code?: string;
        rotate?: boolean;
        config: string;
        ca?: string;
        broker?: string;
        buffer: string;
      }) => {
        if (!opts.code === !opts.rotate) throw new Error('give --code <code> (enrol) or --rotate, not both');
        const { enrol, rotateCredential } = await import('../../edge/enrol.ts');
        if (opts.rotate) {
          const r = await rotateCredential({
            cloud: opts.cloud,
            config: opts.config,
            apiCa: readPem('--ca', opts.ca),
          });
          process.stdout.write(
            `site ${r.site}: new credential in ${r.config}; the old one is refused: restart the agent (systemctl restart gridlayer-edge)\n`,
          );
          return;
        }
        const r = await enrol({
          cloud: opts.cloud,
          code: opts.code as string,
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
