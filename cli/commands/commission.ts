import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { knownUnitIds } from '../../edge/quirks.ts';
import { ModbusClient, type Transport } from '../../protocols/modbus/client.ts';
import { intOption, unitList } from '../options.ts';

/** Unit ids probed without --units: 1-10 (where most devices are set) and every vendor default in edge/quirks.ts. */
export function defaultUnitIds(): number[] {
  return [...new Set([...Array.from({ length: 10 }, (_, i) => i + 1), ...knownUnitIds()])].sort(
    (a, b) => a - b,
  );
}

/** The site and uplink of an enrolled edge config (`gridlayer enrol`): the generated config logs in as it. */
function uplinkFrom(file: string): { site: string; uplink: Record<string, unknown> } {
  let doc: { site?: unknown; uplink?: Record<string, unknown> };
  try {
    doc = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw new Error(`--uplink-from: cannot read ${file}: ${(err as Error).message}`);
  }
  const u = doc.uplink;
  if (typeof doc.site !== 'string' || !u || typeof u.url !== 'string' || typeof u.username !== 'string')
    throw new Error(
      `--uplink-from: ${file} has no site and uplink (url, username): enrol first (gridlayer enrol)`,
    );
  if (u.password === undefined && u.cert === undefined)
    throw new Error(
      `--uplink-from: ${file} holds no credential (uplink.password): enrol first (gridlayer enrol)`,
    );
  return { site: doc.site, uplink: u };
}

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
    .option(
      '--units <list>',
      `unit ids to probe, ids and ranges, e.g. 1-10,126 (default: ${defaultUnitIds().join(',')}: 1-10 and the vendor defaults in edge/quirks.ts)`,
      unitList,
    )
    .option('--timeout <ms>', 'response timeout per transaction', intOption('--timeout', 50, 60000), 500)
    .option(
      '--no-write',
      'skip the test write (by default a control point is changed for a moment and restored, both read back)',
    )
    .option('--site <id>', 'site id for the generated edge config (default: the enrolled one, else site-1)')
    .option(
      '--uplink-from <file>',
      'edge config written by gridlayer enrol: its site and uplink (broker, credential, CA) go into edge.yaml',
    )
    .option('--mqtt <url>', 'MQTT URL for the generated edge config', 'mqtts://broker.example.net:8883')
    .option(
      '--password-file <file>',
      "file holding the site's gateway secret (issued by the cloud with the site); else a placeholder to fill in",
    )
    .option('--ca <file>', "PEM file of the broker's CA, for an mqtts:// URL")
    .option('--buffer <path>', 'buffer file for the generated edge config', '/var/lib/gridlayer/buffer.db')
    .requiredOption('-o, --out <dir>', 'folder for the report (commissioning.json, .md, .html) and edge.yaml')
    .option(
      '--upload <api-url>',
      "also store the report in the cloud beside the site (the operator app's site page shows it): https://host[:port]",
    )
    .option(
      '--token <token>',
      'installer API token for --upload (default: the GRIDLAYER_TOKEN environment variable)',
    )
    .option('--api-ca <file>', "PEM file of the CA that signed the cloud API's certificate, for --upload")
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
        site?: string;
        uplinkFrom?: string;
        mqtt: string;
        passwordFile?: string;
        ca?: string;
        buffer: string;
        out: string;
        upload?: string;
        token?: string;
        apiCa?: string;
      }) => {
        const enrolled = opts.uplinkFrom ? uplinkFrom(opts.uplinkFrom) : undefined;
        if (enrolled && (opts.passwordFile || opts.ca))
          throw new Error('--uplink-from brings the credential and CA: leave out --password-file and --ca');
        if (enrolled && opts.site && opts.site !== enrolled.site)
          throw new Error(`--site ${opts.site}: ${opts.uplinkFrom} is enrolled as site ${enrolled.site}`);
        const siteId = enrolled?.site ?? opts.site ?? 'site-1';
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
        const { commission, edgeConfigYaml, reportHtml, reportMarkdown, withUnit } = await import(
          '../../edge/commission.ts'
        );
        const transport: Transport = opts.host
          ? { kind: 'tcp', host: opts.host, port: opts.port }
          : { kind: 'rtu', path: opts.serial as string, baudRate: opts.baud, parity: opts.parity as 'none' };
        const units = opts.units ?? defaultUnitIds();
        process.stderr.write(
          `probing unit ids ${units.join(', ')}${opts.units ? '' : ' (default; --units to change)'}\n`,
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
          writeFileSync(join(opts.out, 'commissioning.html'), reportHtml(report));
          writeFileSync(
            join(opts.out, 'edge.yaml'),
            edgeConfigYaml(report, {
              site: siteId,
              mqttUrl: opts.mqtt,
              ...(enrolled && { uplink: enrolled.uplink }),
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
            const live = Object.entries(d.live).map(([k, v]) => `${k} ${withUnit(k, v as number | string)}`);
            process.stdout.write(`  live: ${live.join(', ')}\n`);
          }
          process.stdout.write(
            `${report.devices.length} device(s); report: ${join(opts.out, 'commissioning.html')} (also .json, .md); config: ${join(opts.out, 'edge.yaml')}${enrolled ? ` (logs in as enrolled site ${siteId})` : ''}\n`,
          );
          if (opts.upload) {
            const { callApi } = await import('./site.ts');
            await callApi(
              { api: opts.upload, token: opts.token, ca: opts.apiCa },
              'PUT',
              `/sites/${encodeURIComponent(siteId)}/commissioning`,
              report,
            );
            process.stdout.write(`report stored in the cloud for site ${siteId}\n`);
          }
          if (report.devices.length === 0) process.exitCode = 2;
        } finally {
          await io.close();
        }
      },
    );
}
