import assert from 'node:assert/strict';
import { FailureThrottle } from './failure-throttle.ts';

/** The throttle's window arithmetic on a stepped clock (the real-cloud test cannot wait a window out). */
describe('FailureThrottle: per-source windows on a stepped clock', () => {
  const make = (maxSources?: number) => {
    let now = 0;
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const th = new FailureThrottle({
      what: 'test auth',
      maxFailures: 3,
      windowMs: 10_000,
      maxSources,
      now: () => now,
      log: { warn: ((obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg })) as never },
    });
    return { th, warnings, at: (t: number) => (now = t) };
  };

  it('blocks after maxFailures for one window from the blocking failure, then lets the source try again', () => {
    const { th, at } = make();
    at(0);
    th.failure('a', 'x');
    at(4000);
    th.failure('a', 'x');
    assert.equal(th.retryAfterMs('a'), 0, 'two failures: not yet');
    at(5000);
    th.failure('a', 'x');
    assert.equal(th.retryAfterMs('a'), 10_000, 'blocked a full window from the third failure');
    assert.equal(th.retryAfterMs('b'), 0, 'another source is not affected');
    at(14_999);
    th.throttled('a');
    assert.equal(th.retryAfterMs('a'), 1, 'refused attempts do not extend the block');
    at(15_000);
    assert.equal(th.retryAfterMs('a'), 0);
    // The counting window restarted: one new failure does not block again.
    th.failure('a', 'x');
    assert.equal(th.retryAfterMs('a'), 0);
    th.stop();
  });

  it('counts failures per window: failures spread wider than the window never block', () => {
    const { th, at } = make();
    for (const t of [0, 6000, 10_000, 16_000, 20_000]) {
      at(t);
      th.failure('slow', 'x');
      assert.equal(th.retryAfterMs('slow'), 0, `at ${t}`);
    }
    th.stop();
  });

  it('writes one summary per flush with counts per source and reason, nothing when idle', () => {
    const { th, warnings, at } = make();
    at(0);
    th.failure('a', 'wrong secret');
    th.failure('a', 'unknown token');
    th.failure('a', 'unknown token');
    th.throttled('a');
    th.failure('b', 'expired');
    assert.equal(warnings.length, 0);
    th.flush();
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].msg, 'test auth failures (summary)');
    assert.deepEqual(warnings[0].obj, {
      windowMs: 10_000,
      failures: 4,
      throttled: 1,
      sources: [
        { source: 'a', failures: 3, throttled: 1, reasons: { 'wrong secret': 1, 'unknown token': 2 } },
        { source: 'b', failures: 1, throttled: 0, reasons: { expired: 1 } },
      ],
      blocked: ['a'],
    });
    th.flush();
    assert.equal(warnings.length, 1, 'no events since: no line');
    th.stop();
  });

  it('names at most 20 sources per summary and counts the rest; keeps at most maxSources in memory', () => {
    const { th, warnings, at } = make(25);
    at(0);
    for (let i = 0; i < 30; i++) th.failure(`s${i}`, 'x');
    th.flush();
    const s = warnings[0].obj as { sources: unknown[]; otherSources: number; failures: number };
    // 30 sources seen, the oldest 5 evicted past maxSources=25; 20 named, 10 counted; totals exact.
    assert.equal(s.sources.length, 20);
    assert.equal(s.otherSources, 10);
    assert.equal(s.failures, 30);
    th.stop();
  });
});
