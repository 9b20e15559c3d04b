import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitForPort } from './process.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface RunningPostgres {
  port: number;
  /** postgres://… connection string for the superuser `gridlayer` (trust auth on loopback). */
  connectionString: string;
  dir: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Runs a command as the unprivileged `nobody` user when we are root (initdb refuses to run as root). */
function asUnprivileged(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args];
  return ['/usr/sbin/runuser', ['-u', 'nobody', '--', cmd, ...args]];
}

/**
 * Starts a real PostgreSQL 15 server (Debian's postgresql-15) on a free loopback port: a fresh cluster
 * made by initdb in a temp folder, unix socket in that folder, trust auth for the `gridlayer` superuser.
 */
export async function startPostgres(): Promise<RunningPostgres> {
  if (!existsSync(join(PG_BIN, 'postgres'))) {
    throw new Error(
      `${PG_BIN}/postgres not found: install Debian's postgresql (npm test does it via deploy/ci/ensure-test-servers.sh)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-postgres-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const [initCmd, initArgs] = asUnprivileged(join(PG_BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    'gridlayer',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  try {
    execFileSync(initCmd, initArgs, { stdio: 'pipe', cwd: dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`initdb failed: ${e.stderr?.toString() ?? e.message}`);
  }
  const port = await freePort();
  const [pgCmd, pgArgs] = asUnprivileged(join(PG_BIN, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
  ]);
  const proc = startProcess(pgCmd, pgArgs, { cwd: dir });
  const connectionString = `postgres://gridlayer@127.0.0.1:${port}/postgres`;
  try {
    await waitForPort(port, proc, 30000);
    // Accepting TCP is not yet accepting queries (startup recovery); pg_isready says when.
    for (let i = 0; ; i++) {
      try {
        execFileSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'gridlayer'], {
          stdio: 'pipe',
        });
        break;
      } catch {
        if (i > 100) throw new Error(`postgres not ready:\n${proc.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    connectionString,
    dir,
    process: proc,
    async stop() {
      // SIGINT = fast shutdown: the server (running as nobody under runuser) exits at once.
      await proc.stop('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
