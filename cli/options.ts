import { InvalidArgumentError } from 'commander';

/** Commander parsers that turn bad flags into one clear error line. */
export function intOption(name: string, min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    return n;
  };
}

export function numberOption(name: string, min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a number ${min}..${max}`);
    return n;
  };
}

/** `a-b` (inclusive) or a single `n`. */
export function unitRange(raw: string): number[] {
  const m = /^(\d{1,3})(?:-(\d{1,3}))?$/.exec(raw.trim());
  if (!m) throw new InvalidArgumentError('units must look like 1-247 or 5');
  const a = Number(m[1]);
  const b = Number(m[2] ?? m[1]);
  if (a < 1 || b > 247 || a > b) throw new InvalidArgumentError('unit ids run 1..247, low to high');
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** Comma-separated unit ids and ranges, e.g. `1-10,126,240` (sorted, without repeats). */
export function unitList(raw: string): number[] {
  const ids = raw.split(',').flatMap((part) => unitRange(part));
  return [...new Set(ids)].sort((a, b) => a - b);
}
