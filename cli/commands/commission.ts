import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ModbusClient, type Transport } from '../../protocols/modbus/client.ts';
import { intOption, unitRange } from '../options.ts';

/** `gridlayer commission`: scan, identify, check live values, test-write, and write the report + edge config. */
export function register(program: Command): void {
  program
    .command('commission')
    .description(
      'commission a site: scan a Modbus TCP host or RS-485 bus, identify SunSpec devices, test a write, write a report and an edge config',
    )
    .option('--host <host>', 'Modbus TCP host')
    .option('--port <port>', 'Modbus TCP port', intOption('--port', 1, 65535), 502)
    .option('--serial <path>', 'RS-485 serial device (Modbus RTU), e.g. /dev/ttyUSB0')
    .option('--baud <n>', 'serial baud rate', intOption('--baud', 300, 1_000_000), 9600)
    .option('--parity <p>', 'serial parity: none, even, odd', 'none')
    .option('--units <a-b>', 'unit id range to scan, e.g. 1-10', unitRange)
    .option('--timeout <ms>', 'response timeout per transaction', intOption('--timeout', 50, 60000), 500)
    .option('--no-write', 'skip the test write')
    .option('--site <id>', 'site id for the generated edge config', 'site-1')
    .option('--mqtt <url>', 'MQTT URL for the generated edge config', 'mqtts://broker.example.net:8883')
    .option(
      '--password-file <file>',
      "file holding the site's gateway secret (issued by the cloud with the site); else a placeholder to fill in",
    )
    .option('--ca <file>', "PEM file of the broker's CA, for an mqtts:// URL")
    .option('--buffer <path>', 'buffer file for the generated edge config', '/var/lib/gridlayer/buffer.db')
    .requiredOption('-o, --out <dir>', 'folder for commissioning.json, commissioning.md and edge.yaml')
    .action(
      async (opts: {
        host?: string;
        port: number;
        serial?: string;
        baud: number;
        parity: string;
        units?: number[];
        timeout: number;
        write: boolean;
        site: string;
        mqtt: string;
        passwordFile?: string;
        ca?: string;
        buffer: string;
        out: string;
      }) => {
        let password: string | undefined;
        if (opts.passwordFile) {
          try {
            password = readFileSync(opts.passwordFile, 'utf8').trim();
          } catch (err) {
            throw new Error(`--password-file: cannot read ${opts.passwordFile}: ${(err as Error).message}`);
          }
          if (!password) throw new Error(`--password-file: ${opts.passwordFile} is empty`);
        }
        if (!opts.host === !opts.serial)
          throw new Error('give --host (Modbus TCP) or --serial (RS-485), not both');
        if (!['none', 'even', 'odd'].includes(opts.parity)) throw new Error('--parity: none, even or odd');
        const { commission, edgeConfigYaml, reportMarkdown } = await import('../../edge/commission.ts');
        const { knownUnitIds } = await import('../../edge/quirks.ts');
        const transport: Transport = opts.host
          ? { kind: 'tcp', host: opts.host, port: opts.port }
          : { kind: 'rtu', path: opts.serial as string, baudRate: opts.baud, parity: opts.parity as 'none' };
        const units =
          opts.units ??
          [...new Set([...Array.from({ length: 10 }, (_, i) => i + 1), ...knownUnitIds()])].sort(
            (a, b) => a - b,
          );
        const io = new ModbusClient({ transport, timeoutMs: opts.timeout, readOnly: !opts.write });
        try {
          await io.connect();
          const report = await commission(io, units, {
            write: opts.write,
            onProgress: (m) => process.stderr.write(`${m}\n`),
          });
          mkdirSync(opts.out, { recursive: true });
          const line = opts.host
            ? { protocol: 'modbus-tcp', host: opts.host, port: opts.port }
            : { protocol: 'modbus-rtu', serial: { path: opts.serial, baud: opts.baud, parity: opts.parity } };
          writeFileSync(join(opts.out, 'commissioning.json'), `${JSON.stringify(report, null, 2)}\n`);
          writeFileSync(join(opts.out, 'commissioning.md'), reportMarkdown(report));
          writeFileSync(
            join(opts.out, 'edge.yaml'),
            edgeConfigYaml(report, {
              site: opts.site,
              mqttUrl: opts.mqtt,
              line,
              password,
              ca: opts.ca,
              bufferPath: opts.buffer,
            }),
            { mode: 0o600 }, // may hold the gateway secret
          );
          for (const d of report.devices) {
            process.stdout.write(
              `unit ${d.unit}: ${d.kind ?? '?'} ${d.manufacturer ?? ''} ${d.model ?? ''} SN ${d.serial ?? '?'} — test write: ${d.testWrite.ok ? 'OK' : 'no'} (${d.testWrite.detail})\n`,
            );
          }
          process.stdout.write(`${report.devices.length} device(s); report and edge.yaml in ${opts.out}\n`);
          if (report.devices.length === 0) process.exitCode = 2;
        } finally {
          await io.close();
        }
      },
    );
}
