import assert from 'node:assert/strict';
import { parseInstant, parseSeriesCsv } from './csv.ts';

describe('CSV input', () => {
  it('parses offsets, Z, gaps (empty values) and sorts rows', () => {
    const s = parseSeriesCsv(
      'timestamp,value\n2024-01-01T01:00:00+01:00,2\n2024-01-01T00:15Z,1.5\n2024-01-01T00:30Z,\n',
    );
    assert.deepEqual(s.t, [
      Date.UTC(2024, 0, 1, 0, 0),
      Date.UTC(2024, 0, 1, 0, 15),
      Date.UTC(2024, 0, 1, 0, 30),
    ]);
    assert.deepEqual(s.v.slice(0, 2), [2, 1.5]);
    assert.ok(Number.isNaN(s.v[2]));
    assert.deepEqual(s.line, [2, 3, 4]);
  });

  it('names the line of an unparseable timestamp', () => {
    assert.throws(
      () => parseSeriesCsv('timestamp,value\n2024-01-01T00:00Z,1\n2024-01-01 00:15,2\n', 'value', 'in.csv'),
      /in\.csv line 3: unparseable timestamp "2024-01-01 00:15"/,
    );
    assert.throws(
      () => parseSeriesCsv('timestamp,value\n2024-02-30T00:00Z,1\n', 'value', 'x'),
      /x line 2: unparseable/,
    );
  });

  it('names the line of a non-numeric value, a duplicate and a bad header', () => {
    assert.throws(
      () => parseSeriesCsv('timestamp,value\n2024-01-01T00:00Z,1\n2024-01-01T00:15Z,abc\n'),
      /line 3: non-numeric value "abc"/,
    );
    assert.throws(
      () => parseSeriesCsv('timestamp,value\n2024-01-01T00:00Z,1\n2024-01-01T01:00+01:00,2\n'),
      /line 3: duplicate timestamp .* \(also on line 2\)/,
    );
    assert.throws(
      () => parseSeriesCsv('time,kw\n2024-01-01T00:00Z,1\n'),
      /line 1: header must contain "timestamp,value"/,
    );
    assert.throws(() => parseSeriesCsv('timestamp,value\n2024-01-01T00:00Z,1,9\n'), /line 2: malformed CSV/);
    assert.throws(() => parseSeriesCsv(''), /empty file/);
  });

  it('requires an offset on every timestamp', () => {
    assert.ok(Number.isNaN(parseInstant('2024-01-01T00:00:00')));
    assert.equal(parseInstant('2024-01-01T05:30:00+05:30'), Date.UTC(2024, 0, 1));
    assert.equal(parseInstant('2024-01-01T00:00:00.250Z'), Date.UTC(2024, 0, 1) + 250);
  });
});
