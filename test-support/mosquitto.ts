import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitForPort } from './process.ts';

const MOSQUITTO = '/usr/sbin/mosquitto';

export interface MosquittoOptions {
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
}

export interface RunningMosquitto {
  port: number;
  url: string;
  dir: string;
  /** The running broker process (a new one after relaunch()). */
  readonly process: ManagedProcess;
  /** Starts the broker again with the same config, port and store (after it was stopped or killed). */
  relaunch(): Promise<void>;
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
  const port = await freePort();
  const conf = [
    `listener ${port} 127.0.0.1`,
    ...(opts.persistence ? ['persistence true', `persistence_location ${dir}/`] : ['persistence false']),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    // Stay the user we are (root in CI) so the broker can read the temp folder's files.
    'user root',
  ];
  if (opts.users) {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, '');
    for (const [u, p] of Object.entries(opts.users))
      execFileSync('/usr/bin/mosquitto_passwd', ['-b', pw, u, p]);
    conf.push('allow_anonymous false', `password_file ${pw}`);
  } else {
    conf.push('allow_anonymous true');
  }
  if (opts.acl !== undefined) {
    const acl = join(dir, 'acl');
    writeFileSync(acl, opts.acl);
    conf.push(`acl_file ${acl}`);
  }
  if (opts.extraConfig) conf.push(opts.extraConfig);
  const confPath = join(dir, 'mosquitto.conf');
  writeFileSync(confPath, `${conf.join('\n')}\n`);
  let proc = startProcess(MOSQUITTO, ['-c', confPath]);
  await waitForPort(port, proc);
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
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
