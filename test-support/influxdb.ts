import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess, waitForPort } from './process.ts';

const INFLUXD = '/usr/bin/influxd';

export interface RunningInfluxDB {
  /** HTTP API base URL (1.x API: /write, /query, /ping). */
  url: string;
  port: number;
  dir: string;
  process: ManagedProcess;
  /** Creates a database through the 1.x /query endpoint. */
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real InfluxDB 1.x server (Debian's `influxdb` package, 1.6.x) on free loopback ports with
 * its data, meta and WAL folders in a temp folder. Auth off, usage reporting off.
 */
export async function startInfluxDB(): Promise<RunningInfluxDB> {
  if (!existsSync(INFLUXD)) {
    throw new Error(
      `${INFLUXD} not found: install Debian's influxdb (npm test does it via deploy/ci/ensure-test-servers.sh)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-influxdb-'));
  const port = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === port) rpcPort = await freePort();
  const conf = `
reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[coordinator]
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  auth-enabled = false
  log-enabled = false
[continuous_queries]
  enabled = false
`;
  const confPath = join(dir, 'influxdb.conf');
  writeFileSync(confPath, conf);
  const proc = startProcess(INFLUXD, ['-config', confPath]);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForPort(port, proc);
    // The port opens slightly before the HTTP handler answers; /ping says when it is ready.
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/ping`).then(
        (r) => r.status === 204,
        () => false,
      );
      if (ok) break;
      if (i > 100) throw new Error(`influxd did not answer /ping:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    dir,
    process: proc,
    async createDatabase(name) {
      // InfluxQL reports statement errors in a 200 body, so read it; and only return once the
      // database is listed (a write right after a failed create answers 404 "database not found").
      let last = '';
      for (let i = 0; i < 50; i++) {
        const r = await fetch(`${url}/query`, {
          method: 'POST',
          body: new URLSearchParams({ q: `CREATE DATABASE "${name}"` }),
        });
        last = `${r.status} ${await r.text()}`;
        const show = await fetch(`${url}/query?${new URLSearchParams({ q: 'SHOW DATABASES' })}`);
        const listed = (await show.json()) as { results?: { series?: { values?: string[][] }[] }[] };
        if (listed.results?.[0]?.series?.[0]?.values?.some((v) => v[0] === name)) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`CREATE DATABASE ${name} did not take: ${last}\n${proc.output()}`);
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
