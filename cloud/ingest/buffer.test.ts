import assert from 'node:assert/strict';
import pino from 'pino';
import { createMetrics } from '../metrics.ts';
import type { PointRow, TimeSeriesStore } from '../storage/timeseries/types.ts';
import { WriteBuffer } from './buffer.ts';

/** A store that records each write (one call = one group commit). */
function recordingStore() {
  const writes: PointRow[][] = [];
  const store = {
    kind: 'memory',
    write: async (rows: PointRow[]) => {
      writes.push(rows);
    },
  } as unknown as TimeSeriesStore;
  return { store, writes };
}

const row = (ts: number): PointRow => ({ site: 's', device: 'd', point: 'w', ts, value: ts });

describe('ingest write buffer', () => {
  it('commits a burst once arrivals pause, without waiting out the flush interval', async () => {
    const { store, writes } = recordingStore();
    // An hour-long interval: only the idle rule can write before close().
    const buf = new WriteBuffer(
      store,
      { maxBatchPoints: 10_000, flushIntervalMs: 3_600_000, flushIdleMs: 1, maxBufferedPoints: 100_000 },
      createMetrics(),
      pino({ level: 'silent' }),
    );
    await Promise.all([buf.enqueue([row(1)], 1), buf.enqueue([row(2), row(3)], 3)]);
    assert.equal(writes.length, 1, 'one group commit for the whole burst');
    assert.deepEqual(
      writes[0].map((r) => r.ts),
      [1, 2, 3],
    );
    await buf.close();
  });

  it('without the idle rule, rows wait for the interval (or a flush)', async () => {
    const { store, writes } = recordingStore();
    const buf = new WriteBuffer(
      store,
      { maxBatchPoints: 10_000, flushIntervalMs: 3_600_000, flushIdleMs: 0, maxBufferedPoints: 100_000 },
      createMetrics(),
      pino({ level: 'silent' }),
    );
    const p = buf.enqueue([row(1)], 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(writes.length, 0);
    await buf.close();
    await p;
    assert.equal(writes.length, 1);
  });
});
