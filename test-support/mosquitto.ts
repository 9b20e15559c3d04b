import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitForPort } from './process.ts';

const MOSQUITTO = '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** The port to listen on (default: a free one the OS picks). */
  port?: number;
  /** username → password; when given, anonymous access is off. */
  users?: Record<string, string>;
  /** Mosquitto ACL file contents (see mosquitto.conf(5) acl_file). */
  acl?: string;
  /** Extra mosquitto.conf lines (e.g. a TLS listener). */
  extraConfig?: string;
  /**
   * Keep sessions and queued QoS 1 messages in the temp folder across a graceful restart
   * (Mosquitto writes its store on shutdown and every autosave_interval, not on every message).
   */
  persistence?: boolean;
  /**
   * A whole mosquitto.conf (listener, auth and ACL lines) instead of the generated ones, given the free
   * port and the files written from `users` and `acl`: e.g. the output of --print-mosquitto-conf.
   * Only logging and `user root` are added.
   */
  conf?: (files: { port: number; passwordFile: string; aclFile: string }) => string;
}

export interface RunningMosquitto {
  port: number;
  url: string;
  dir: string;
  /** The running broker process (a new one after relaunch()). */
  readonly process: ManagedProcess;
  /** Starts the broker again with the same config, port and store (after it was stopped or killed). */
  relaunch(): Promise<void>;
  /** Ports Mosquitto said it opened (from its log): the listeners the config really gave. */
  openedPorts(): number[];
  stop(): Promise<void>;
}

/** Starts a real Mosquitto broker (Debian package) on a free loopback port in a temp folder. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<RunningMosquitto> {
  if (!existsSync(MOSQUITTO)) {
    throw new Error(
      `${MOSQUITTO} not found: install Debian's mosquitto (npm test does it via deploy/ci/ensure-test-servers.sh)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-mosquitto-'));
  const port = opts.port ?? (await freePort());
  const passwordFile = join(dir, 'passwd');
  const aclFile = join(dir, 'acl');
  if (opts.users) {
    writeFileSync(passwordFile, '');
    for (const [u, p] of Object.entries(opts.users))
      execFileSync('/usr/bin/mosquitto_passwd', ['-b', passwordFile, u, p]);
  }
  if (opts.acl !== undefined) writeFileSync(aclFile, opts.acl);
  const logging = [
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    // Stay the user we are (root in CI) so the broker can read the temp folder's files.
    'user root',
  ];
  const conf = opts.conf
    ? [opts.conf({ port, passwordFile, aclFile }), ...logging]
    : [`listener ${port} 127.0.0.1`, ...logging];
  conf.push(
    ...(opts.persistence ? ['persistence true', `persistence_location ${dir}/`] : ['persistence false']),
  );
  if (!opts.conf) {
    conf.push(opts.users ? `allow_anonymous false\npassword_file ${passwordFile}` : 'allow_anonymous true');
    if (opts.acl !== undefined) conf.push(`acl_file ${aclFile}`);
  }
  if (opts.extraConfig) conf.push(opts.extraConfig);
  const confPath = join(dir, 'mosquitto.conf');
  writeFileSync(confPath, `${conf.join('\n')}\n`);
  let proc = startProcess(MOSQUITTO, ['-c', confPath]);
  await waitForPort(port, proc);
  // Mosquitto logs every listener it opens before it says it is running.
  for (let i = 0; i < 100 && !/ running/.test(proc.output()); i++)
    await new Promise((r) => setTimeout(r, 20));
  const opened = [...proc.output().matchAll(/Opening ipv[46] listen socket on port (\d+)/g)].map((m) =>
    Number(m[1]),
  );
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    get process() {
      return proc;
    },
    async relaunch() {
      proc = startProcess(MOSQUITTO, ['-c', confPath]);
      await waitForPort(port, proc);
    },
    openedPorts: () => opened,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs Debian's mosquitto_pub or mosquitto_sub (a foreign MQTT client) and collects its output; never
 * rejects: the exit code is part of the result. `timeoutMs` is a generous upper bound (killed then).
 */
export function mosquittoClient(
  tool: 'mosquitto_pub' | 'mosquitto_sub',
  args: string[],
  timeoutMs = 15_000,
): Promise<CliResult> {
  const bin = `/usr/bin/${tool}`;
  if (!existsSync(bin))
    throw new Error(
      `${bin} not found: install Debian's mosquitto-clients (deploy/ci/ensure-test-servers.sh)`,
    );
  return new Promise((resolve) => {
    const child = execFile(bin, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : child.exitCode, stdout, stderr });
    });
  });
}
