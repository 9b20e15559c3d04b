import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test-support/edge/harness.ts';
import { TelemetryBuffer } from './buffer.ts';

const sample = (i: number) => ({ ts: 1_780_000_000_000 + i, device: 'd1', values: { w: i } });

describe('telemetry buffer (SQLite WAL)', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps staged (polled, not yet batched) samples across a reopen and seals them into bounded batches once', () => {
    const path = join(dir, 'b.db');
    const b1 = new TelemetryBuffer({ path, maxBatches: 100, drop: 'oldest' });
    for (let i = 0; i < 5; i++) b1.stage([sample(i)]);
    assert.equal(b1.stagedSamples, 5);
    assert.equal(b1.size, 0);
    // Not closed: what a kill -9 leaves behind (the WAL is not checkpointed into the main file).
    const b2 = new TelemetryBuffer({ path, maxBatches: 100, drop: 'oldest' });
    assert.equal(b2.stagedSamples, 5);
    const seqs = b2.seal(true, 2);
    assert.equal(seqs.length, 3); // 2 + 2 + 1
    assert.equal(b2.stagedSamples, 0);
    assert.deepEqual(
      b2.peek(10).map((r) => [r.offline, r.samples.map((x) => x.values.w)]),
      [
        [true, [0, 1]],
        [true, [2, 3]],
        [true, [4]],
      ],
    );
    assert.deepEqual(b2.seal(false, 2), []); // sealed once: nothing staged is batched twice
    b2.stage([sample(5), sample(6)]);
    b1.close();
    b2.close();
    const b3 = new TelemetryBuffer({ path, maxBatches: 100, drop: 'oldest' });
    assert.equal(b3.size, 3);
    assert.equal(b3.stagedSamples, 2);
    b3.close();
  });

  it('replays in order with original timestamps, and survives reopening', () => {
    const path = join(dir, 'b.db');
    const b1 = new TelemetryBuffer({ path, maxBatches: 100, drop: 'oldest' });
    const seqs = [1, 2, 3].map((i) => b1.append([sample(i)], true));
    b1.close();
    const b2 = new TelemetryBuffer({ path, maxBatches: 100, drop: 'oldest' });
    assert.equal(b2.size, 3);
    const rows = b2.peek(10);
    assert.deepEqual(
      rows.map((r) => r.seq),
      seqs,
    );
    assert.deepEqual(
      rows.map((r) => r.samples[0].ts),
      [1, 2, 3].map((i) => sample(i).ts),
    );
    assert.equal(rows[0].offline, true);
    b2.ack(rows[0].seq);
    assert.deepEqual(
      b2.peek(10).map((r) => r.seq),
      seqs.slice(1),
    );
    // seq keeps growing after deletes and restarts: the cloud can drop redeliveries by seq.
    const next = b2.append([sample(4)], false) as number;
    assert.ok(next > (seqs[2] as number));
    b2.close();
  });

  it('bounds its size, dropping the oldest batches and counting every drop', () => {
    const b = new TelemetryBuffer({ path: join(dir, 'b.db'), maxBatches: 10, drop: 'oldest' });
    for (let i = 0; i < 25; i++) b.append([sample(i)], true);
    assert.equal(b.size, 10);
    assert.equal(b.dropped, 15);
    assert.deepEqual(
      b.peek(100).map((r) => r.samples[0].values.w),
      [15, 16, 17, 18, 19, 20, 21, 22, 23, 24],
    );
    b.close();
  });

  it('with the newest-drop policy keeps the oldest and refuses new batches, counted', () => {
    const b = new TelemetryBuffer({ path: join(dir, 'b.db'), maxBatches: 10, drop: 'newest' });
    for (let i = 0; i < 12; i++) b.append([sample(i)], true);
    assert.equal(b.size, 10);
    assert.equal(b.dropped, 2);
    assert.equal(b.peek(1)[0].samples[0].values.w, 0);
    b.close();
  });
});
