import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { type ManagedProcess, startProcess } from '../test-support/process.ts';
import { HilCloud, hilDir, waitUntil } from './harness.ts';

/** Server-side ESTABLISHED TCP connections on a local port (from /proc/net/tcp, state 01). */
function established(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(hex) && f[3] === '01').length;
}

/** docs/cloud.md: the cloud stops within 10 s (STOP_BOUND_MS); the CLI's last resort exits (code 1) 2 s later. */
const STATED_BOUND_MS = 10_000;

describe('hardware in the loop: `gridlayer cloud` stops on SIGTERM within its bound with gateways connected', function () {
  this.timeout(90_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  const gateways: ManagedProcess[] = [];
  after(async () => {
    for (const g of gateways) {
      g.child.kill('SIGCONT');
      await g.stop();
    }
    await cloud.stop();
    tmp.cleanup();
  });

  it('exits within the bound with one live and one SIGSTOPped gateway, and restarts on the same ports at once', async () => {
    await cloud.start();
    for (const site of ['stop-live', 'stop-frozen']) {
      const r = await cloud.ok<{ gateway: { username: string; password: string } }>('POST', '/sites', {
        id: site,
      });
      // Foreign clients (Debian's mosquitto_sub) with persistent sessions, as real processes.
      const g = startProcess('/usr/bin/mosquitto_sub', [
        ...['-h', '127.0.0.1', '-p', String(cloud.mqttPort), '-V', 'mqttv311', '-k', '60'],
        ...['-u', r.gateway.username, '-P', r.gateway.password],
        ...['-i', `gw-${site}`, '-c', '-q', '1', '-t', siteTopic(site, 'commands')],
      ]);
      gateways.push(g);
    }
    // Both are connected (two established connections to the broker port) before one of them freezes.
    await waitUntil('two gateway connections', () => established(cloud.mqttPort) === 2 || undefined);
    (gateways[1] as ManagedProcess).child.kill('SIGSTOP');

    const proc = cloud.proc as ManagedProcess;
    const exited = new Promise<number | null>((r) => proc.child.once('exit', (code) => r(code)));
    proc.child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), STATED_BOUND_MS + 5000)),
    ]);
    // 0: stop() finished by itself (the CLI's last-resort exit would be 1).
    assert.equal(code, 0, proc.output());
    // …and no step needed its timeout: the broker ended the frozen gateway's connection itself.
    assert.doesNotMatch(proc.output(), /timed out/, proc.output());

    // Same ports, same data: no EADDRINUSE.
    await cloud.start();
    assert.equal((await cloud.api('GET', '/health')).status, 200);
  });
});
