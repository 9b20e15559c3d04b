import assert from 'node:assert/strict';
import {
  assertTimeZone,
  localDayStart,
  localTime,
  offsetMs,
  parseLocalDate,
  sameLocalTimeDaysAgo,
} from './timezone.ts';

const H = 3_600_000;

describe('time zones (Intl)', () => {
  it('knows DST offsets and day lengths in Europe/Berlin', () => {
    assert.equal(offsetMs('Europe/Berlin', Date.UTC(2024, 0, 15)), 1 * H);
    assert.equal(offsetMs('Europe/Berlin', Date.UTC(2024, 6, 15)), 2 * H);
    const spring = parseLocalDate('2024-03-31');
    const fall = parseLocalDate('2024-10-27');
    assert.equal(localDayStart('Europe/Berlin', spring + 1) - localDayStart('Europe/Berlin', spring), 23 * H);
    assert.equal(localDayStart('Europe/Berlin', fall + 1) - localDayStart('Europe/Berlin', fall), 25 * H);
    assert.equal(localDayStart('Europe/Berlin', spring), Date.UTC(2024, 2, 30, 23));
  });

  it('maps "same time yesterday" by wall clock across a DST change', () => {
    // 2024-03-31 08:00 CEST (06:00Z) ← 2024-03-30 08:00 CET (07:00Z)
    const t = Date.UTC(2024, 2, 31, 6);
    assert.equal(sameLocalTimeDaysAgo('Europe/Berlin', t, 1), Date.UTC(2024, 2, 30, 7));
    const lt = localTime('Europe/Berlin', t);
    assert.equal(lt.msOfDay, 8 * H);
    assert.equal(lt.weekday, 0); // Sunday
  });

  it('handles half-hour zones and the southern hemisphere', () => {
    assert.equal(offsetMs('Asia/Kolkata', Date.UTC(2024, 5, 1)), 5.5 * H);
    assert.equal(localDayStart('Asia/Kolkata', parseLocalDate('2024-06-01')), Date.UTC(2024, 4, 31, 18, 30));
    assert.equal(offsetMs('Australia/Sydney', Date.UTC(2024, 0, 1)), 11 * H);
    assert.equal(offsetMs('Australia/Sydney', Date.UTC(2024, 6, 1)), 10 * H);
  });

  it('rejects unknown zones and invalid dates clearly', () => {
    assert.throws(() => assertTimeZone('Mars/Olympus'), /unknown time zone "Mars\/Olympus"/);
    assert.throws(() => parseLocalDate('2024-02-30'), /invalid date/);
    assert.throws(() => parseLocalDate('24-1-1'), /expected YYYY-MM-DD/);
  });
});
