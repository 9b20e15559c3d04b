import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { SimSite } from '../sim-devices/site.ts';
import { simDevices, TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { freePort } from '../test-support/ports.ts';
import { EdgeAgent } from './agent.ts';

const NOON = Date.UTC(2026, 5, 21, 11);

/** Every batch seq the broker received, deduplicated; asserts nothing between first and last is missing. */
function receivedSeqs(broker: TestBroker): { seqs: number[]; duplicates: number } {
  const all = broker.of('telemetry').map((m) => m.json.seq as number);
  const seqs = [...new Set(all)].sort((a, b) => a - b);
  return { seqs, duplicates: all.length - seqs.length };
}

describe('store and forward', function () {
  this.timeout(90_000);
  let site: SimSite;
  let dir: string;

  beforeEach(async () => {
    site = new SimSite({ startMs: NOON, seed: 5 });
    await site.start();
    dir = tempDir();
  });
  afterEach(async () => {
    await site.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('buffers while the broker is down and replays everything in order when it is back', async () => {
    const broker = new TestBroker();
    await broker.start();
    const agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        devices: simDevices(site.port),
        control: { enabled: false },
      }),
    });
    try {
      await agent.start();
      await waitFor('first telemetry', () => broker.of('telemetry').length >= 2);
      await broker.stop();
      await waitFor('batches buffered while offline', () => agent.buffer.size >= 5);
      const downAt = Date.now();
      const buffered = agent.buffer.peek(1000);
      await broker.start(); // same port, fresh broker: the session is gone, as after a crash
      await waitFor('buffer drained', () => agent.buffer.size === 0 && agent.uplink.connected, 30_000);
      const { seqs } = receivedSeqs(broker);
      for (const b of buffered) assert.ok(seqs.includes(b.seq), `batch ${b.seq} lost`);
      const replayed = broker.of('telemetry').filter((m) => m.json.replay === true);
      assert.ok(replayed.length >= buffered.length - 1, 'buffered batches are flagged replay');
      // Original timestamps: the replayed samples were taken while the broker was down.
      assert.ok(replayed.some((m) => m.json.samples[0].ts <= downAt));
      // In order: the first time each seq arrives, it is larger than every seq before it.
      const firsts: number[] = [];
      for (const m of broker.of('telemetry')) if (!firsts.includes(m.json.seq)) firsts.push(m.json.seq);
      assert.deepEqual(
        firsts,
        [...firsts].sort((a, b) => a - b),
      );
      // Retained status and capabilities were published again on the new broker.
      assert.ok(broker.of('status').length >= 1 && broker.of('capabilities').length >= 1);
    } finally {
      await agent.stop();
      await broker.stop();
    }
  });

  it('loses nothing from the buffer when the agent process is killed with SIGKILL and restarted', async () => {
    const port = await freePort();
    const cfgPath = join(dir, 'edge.yaml');
    writeFileSync(
      cfgPath,
      stringify({
        site: 'site-k9',
        uplink: { url: `mqtt://127.0.0.1:${port}`, clientId: 'edge-k9', batchMs: 200, reconnectMs: 200 },
        buffer: { path: join(dir, 'buffer.db') },
        // Every poll's sample, so the outbox fills within seconds while the broker is away.
        telemetry: { report: 'batch' },
        http: { port: 0 },
        control: { enabled: false },
        log: { level: 'warn' },
        devices: simDevices(site.port),
      }),
    );
    const run = (): ChildProcess =>
      spawn(process.execPath, ['bin/gridlayer.js', 'edge', '--config', cfgPath], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    const count = () => {
      try {
        const db = new Database(join(dir, 'buffer.db'), { readonly: true, fileMustExist: true });
        try {
          return db.prepare('SELECT count(*) AS n, max(seq) AS max FROM outbox').get() as {
            n: number;
            max: number | null;
          };
        } finally {
          db.close();
        }
      } catch {
        return { n: 0, max: null };
      }
    };
    // No broker yet: everything the agent polls goes to the buffer.
    const first = run();
    let stderr = '';
    first.stderr?.on('data', (d) => (stderr += d));
    try {
      await waitFor('batches in the buffer', () => count().n >= 8, 30_000, 100);
    } catch (err) {
      first.kill('SIGKILL');
      throw new Error(`${(err as Error).message}; agent stderr: ${stderr.slice(-2000)}`);
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const before = count();
    const stored = new Database(join(dir, 'buffer.db'), { readonly: true });
    const seqsBefore = (
      stored.prepare('SELECT seq FROM outbox ORDER BY seq').all() as Array<{ seq: number }>
    ).map((r) => r.seq);
    stored.close();
    assert.equal(seqsBefore.length, before.n);

    const broker = new TestBroker();
    broker.port = port;
    await broker.start();
    const second = run();
    try {
      await waitFor(
        'every stored batch published',
        () => {
          const got = new Set(broker.of('telemetry').map((m) => m.json.seq));
          return seqsBefore.every((s) => got.has(s));
        },
        45_000,
        100,
      );
      const firstNew = broker.of('telemetry').find((m) => !seqsBefore.includes(m.json.seq));
      if (firstNew) assert.ok(firstNew.json.seq > (before.max as number), 'new batches continue the seq');
      const replayed = broker.of('telemetry').filter((m) => seqsBefore.includes(m.json.seq));
      assert.ok(replayed.every((m) => m.json.replay === true));
    } finally {
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));
      await broker.stop();
    }
    // Graceful stop published the retained offline status.
    assert.ok(broker.of('status').some((m) => m.json.state === 'offline' && m.retain));
  });
});
