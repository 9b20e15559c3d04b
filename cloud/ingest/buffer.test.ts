import assert from 'node:assert/strict';
import pino from 'pino';
import { createMetrics } from '../metrics.ts';
import type { PointRow, TimeSeriesStore } from '../storage/timeseries/types.ts';
import { WriteBuffer, type WriteBufferOptions } from './buffer.ts';

/** A store that records each write (one call = one group commit); writes finish when released. */
function recordingStore() {
  const writes: PointRow[][] = [];
  const held: (() => void)[] = [];
  let hold = false;
  const store = {
    kind: 'memory',
    write: (rows: PointRow[]) => {
      writes.push(rows);
      return hold ? new Promise<void>((r) => held.push(r)) : Promise.resolve();
    },
  } as unknown as TimeSeriesStore;
  return {
    store,
    writes,
    hold: (on: boolean) => {
      hold = on;
    },
    release: () => {
      for (const r of held.splice(0)) r();
    },
  };
}

const row = (ts: number): PointRow => ({ site: 's', device: 'd', point: 'w', ts, value: ts });
const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => row(from + i));
const tick = () => new Promise((r) => setImmediate(r));

function buffer(store: TimeSeriesStore, opts: Partial<WriteBufferOptions> = {}) {
  return new WriteBuffer(
    store,
    {
      maxBatchPoints: 10_000,
      flushIntervalMs: 3_600_000,
      smallBatchPoints: 100,
      maxBufferedPoints: 100_000,
      ...opts,
    },
    createMetrics(),
    pino({ level: 'silent' }),
  );
}

describe('ingest write buffer', () => {
  it('commits at once when the store is idle: one commit for what was queued in the same turn', async () => {
    const { store, writes } = recordingStore();
    // An hour-long interval: nothing here may wait for it.
    const buf = buffer(store);
    await Promise.all([buf.enqueue([row(1)], 1), buf.enqueue([row(2), row(3)], 3)]);
    assert.equal(writes.length, 1, 'one group commit for the whole burst');
    assert.deepEqual(
      writes[0].map((r) => r.ts),
      [1, 2, 3],
    );
    await buf.close();
  });

  it('while a commit is in flight, queues; when it returns, commits everything queued at once', async () => {
    const s = recordingStore();
    const buf = buffer(s.store, { smallBatchPoints: 1 });
    s.hold(true);
    const first = buf.enqueue([row(1)], 1);
    await tick();
    assert.equal(s.writes.length, 1);
    const later = [buf.enqueue([row(2)], 2), buf.enqueue([row(3)], 3)];
    await tick();
    await tick();
    assert.equal(s.writes.length, 1, 'nothing else starts while the first commit is in flight');
    s.hold(false);
    s.release();
    await first;
    await Promise.all(later);
    assert.equal(s.writes.length, 2);
    assert.deepEqual(
      s.writes[1].map((r) => r.ts),
      [2, 3],
    );
    await buf.close();
  });

  it('spaces small commits flushIntervalMs apart; a large one goes at once', async () => {
    const { store, writes } = recordingStore();
    const buf = buffer(store, { smallBatchPoints: 100 });
    await buf.enqueue([row(1)], 1); // store idle, no earlier commit: written at once
    assert.equal(writes.length, 1);
    const small = buf.enqueue([row(2)], 2);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(writes.length, 1, 'a small commit after a small one waits for the interval');
    // Enough to fill a batch: written without waiting, together with the small one.
    const big = buf.enqueue(rows(10, 9_999), 10_008);
    await Promise.all([small, big]);
    assert.equal(writes.length, 2);
    // The last commit was large: the next one does not wait either.
    await buf.enqueue([row(20_000)], 20_000);
    assert.equal(writes.length, 3);
    await buf.close();
  });

  it('flush() and close() write what waits for the interval', async () => {
    const { store, writes } = recordingStore();
    const buf = buffer(store);
    await buf.enqueue([row(1)], 1);
    const p = buf.enqueue([row(2)], 2);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(writes.length, 1);
    await buf.close();
    await p;
    assert.equal(writes.length, 2);
    await assert.rejects(buf.enqueue([row(3)], 3), /shutting down/);
  });

  it('reports when it is full and lets callers wait for space (back-pressure without a write promise)', async () => {
    const s = recordingStore();
    const buf = buffer(s.store, { maxBufferedPoints: 2 });
    s.hold(true);
    const written = buf.enqueue([row(1), row(2)], 2);
    assert.equal(buf.full, true);
    let spaced = false;
    const space = buf.waitForSpace().then(() => {
      spaced = true;
    });
    await tick();
    await tick();
    assert.equal(spaced, false, 'no space while the rows are not written');
    s.hold(false);
    s.release();
    await Promise.all([written, space]);
    assert.equal(buf.full, false);
    await buf.close();
  });
});
