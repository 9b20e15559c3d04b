import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';

export interface ManagedProcess {
  child: ChildProcess;
  /** Tail of the process's output, for error messages when it dies. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns a server process, keeps the tail of its output, and stops it for sure on stop(). */
export function startProcess(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const managed: ManagedProcess = {
    child,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  return managed;
}

/** Resolves once a TCP connect to host:port succeeds; rejects if the process exits or time runs out. */
export async function waitForPort(
  port: number,
  proc?: ManagedProcess,
  timeoutMs = 15000,
  host = '127.0.0.1',
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.child.exitCode !== null) {
      throw new Error(`process exited with code ${proc.child.exitCode} before listening:\n${proc.output()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms\n${proc?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
