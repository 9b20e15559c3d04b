/**
 * CSV time series input: header `timestamp,<column>`, ISO 8601 timestamps with an offset or `Z`,
 * numeric values. Errors name the line so a user can fix the file.
 */
import { CsvError, parse } from 'csv-parse/sync';

export interface ParsedSeries {
  t: number[];
  v: number[];
  /** 1-based source line of each point, for later error messages (e.g. too little history). */
  line: number[];
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)$/;

/** Parses an ISO 8601 instant that must carry an offset or Z; returns NaN if it is not one. */
export function parseInstant(s: string): number {
  const m = ISO.exec(s.trim());
  if (!m) return Number.NaN;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  const Y = Number(y);
  const M = Number(mo);
  const D = Number(d);
  const hh = Number(h);
  const mm = Number(mi);
  const ss = sec ? Number(sec) : 0;
  if (M < 1 || M > 12 || D < 1 || hh > 24 || mm > 59 || ss > 60) return Number.NaN;
  const daysInMonth = new Date(Date.UTC(Y, M, 0)).getUTCDate();
  if (D > daysInMonth) return Number.NaN;
  let offsetMin = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
  }
  const ms = frac ? Math.round(Number(frac) * 1000) : 0;
  return Date.UTC(Y, M - 1, D, hh, mm, ss, ms) - offsetMin * 60_000;
}

/**
 * Parses CSV text with a `timestamp` column and one value column (`value` by default).
 * An empty value is a gap; anything else that is not a finite number is an error.
 */
export function parseSeriesCsv(text: string, valueColumn = 'value', source = 'input'): ParsedSeries {
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text, { info: true, skip_empty_lines: true, trim: true, bom: true, comment: '#' }) as never;
  } catch (err) {
    if (err instanceof CsvError) {
      const line = (err as unknown as { lines?: number }).lines;
      throw new Error(`${source}${line ? ` line ${line}` : ''}: malformed CSV: ${err.message}`);
    }
    throw err;
  }
  if (rows.length === 0)
    throw new Error(`${source}: empty file (expected header "timestamp,${valueColumn}")`);
  const header = rows[0].record.map((h) => h.toLowerCase());
  const ti = header.indexOf('timestamp');
  const vi = header.indexOf(valueColumn);
  if (ti < 0 || vi < 0) {
    throw new Error(
      `${source} line ${rows[0].info.lines}: header must contain "timestamp,${valueColumn}", got "${rows[0].record.join(',')}"`,
    );
  }
  const out: ParsedSeries = { t: [], v: [], line: [] };
  const seen = new Map<number, number>();
  for (let r = 1; r < rows.length; r++) {
    const { record, info } = rows[r];
    const line = info.lines;
    const ts = record[ti] ?? '';
    const t = parseInstant(ts);
    if (!Number.isFinite(t)) {
      throw new Error(
        `${source} line ${line}: unparseable timestamp "${ts}" (expected ISO 8601 with offset or Z, e.g. 2024-03-01T00:15:00Z)`,
      );
    }
    const raw = record[vi] ?? '';
    let v: number;
    if (raw === '') v = Number.NaN;
    else {
      v = Number(raw);
      if (!Number.isFinite(v)) throw new Error(`${source} line ${line}: non-numeric ${valueColumn} "${raw}"`);
    }
    const dup = seen.get(t);
    if (dup !== undefined)
      throw new Error(`${source} line ${line}: duplicate timestamp "${ts}" (also on line ${dup})`);
    seen.set(t, line);
    out.t.push(t);
    out.v.push(v);
    out.line.push(line);
  }
  if (out.t.length === 0) throw new Error(`${source}: no data rows after the header`);
  // Sort by time (files may be concatenated out of order); keep line numbers with their points.
  const order = out.t.map((_, i) => i).sort((a, b) => out.t[a] - out.t[b]);
  return {
    t: order.map((i) => out.t[i]),
    v: order.map((i) => out.v[i]),
    line: order.map((i) => out.line[i]),
  };
}
