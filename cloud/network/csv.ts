/**
 * CSV import of a feeder (the contract of issue 6), and of flexibility offers.
 *
 * buses.csv     bus,type,p_kw,q_kvar[,vmin_pu,vmax_pu][,gen_kw,gen_kvar]
 * branches.csv  from_bus,to_bus,r_ohm,x_ohm[,in_service][,rating_kva][,id]
 * offers.csv    bus,direction,quantity_kw,price_per_mwh[,id]
 *
 * p_kw/q_kvar is the bus load (positive = consumption); gen_kw/gen_kvar a fixed DER output
 * (positive = injection). Other columns are allowed and ignored. Lines starting with # are comments.
 * Every error names the file and the line.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { buildNetwork, type Network, NetworkError, type NetworkInput } from './model.ts';
import type { Offer } from './offers.ts';

export class CsvError extends Error {
  override name = 'CsvError';
}

const text = z.string().trim();
const requiredNumber = text.min(1, 'is empty').transform(Number).refine(Number.isFinite, 'is not a number');
const optionalNumber = text
  .optional()
  .transform((s) => (s === undefined || s === '' ? undefined : Number(s)))
  .refine((v) => v === undefined || Number.isFinite(v), 'is not a number');
const id = text.min(1, 'is empty');

const busRow = z.object({
  bus: id,
  type: text.toLowerCase().pipe(z.enum(['slack', 'pq'], "must be 'slack' or 'pq'")),
  p_kw: requiredNumber,
  q_kvar: requiredNumber,
  vmin_pu: optionalNumber.refine((v) => v === undefined || v > 0, 'must be > 0'),
  vmax_pu: optionalNumber.refine((v) => v === undefined || v > 0, 'must be > 0'),
  gen_kw: optionalNumber,
  gen_kvar: optionalNumber,
});

const branchRow = z.object({
  id: text.optional().transform((s) => (s ? s : undefined)),
  from_bus: id,
  to_bus: id,
  r_ohm: requiredNumber.refine((v) => v >= 0, 'must be >= 0'),
  x_ohm: requiredNumber.refine((v) => v >= 0, 'must be >= 0'),
  in_service: text
    .optional()
    .refine((s) => s === undefined || s === '' || s === '0' || s === '1', 'must be 1 or 0')
    .transform((s) => s !== '0'),
  rating_kva: optionalNumber.refine((v) => v === undefined || v > 0, 'must be > 0'),
});

const offerRow = z.object({
  id: text.optional().transform((s) => (s ? s : undefined)),
  bus: id,
  direction: text.toLowerCase().pipe(z.enum(['up', 'down'], "must be 'up' or 'down'")),
  quantity_kw: requiredNumber.refine((v) => v > 0, 'must be > 0'),
  price_per_mwh: requiredNumber,
});

interface Row<T> {
  line: number;
  value: T;
}

/** Parses CSV text into validated rows; `file` only names the source in errors. */
function parseRows<S extends z.ZodType>(
  csv: string,
  file: string,
  schema: S,
  required: readonly string[],
): Row<z.output<S>>[] {
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  let header: string[] = [];
  try {
    records = parse(csv, {
      columns: (h: string[]) => {
        header = h.map((c) => c.trim());
        return header;
      },
      info: true,
      comment: '#',
      skip_empty_lines: true,
      bom: true,
    });
  } catch (err) {
    throw new CsvError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (header.length === 0) throw new CsvError(`${file}: file is empty (expected a header line)`);
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length) {
    throw new CsvError(
      `${file} line 1: missing column(s) ${missing.join(', ')} (header is: ${header.join(',')})`,
    );
  }
  return records.map(({ record, info }) => {
    const r = schema.safeParse(record);
    if (!r.success) {
      const issue = r.error.issues[0];
      const col = issue.path.length ? `column "${String(issue.path[0])}"` : 'row';
      const raw = issue.path.length ? record[String(issue.path[0])] : undefined;
      const got = raw === undefined ? '' : ` (got "${raw}")`;
      throw new CsvError(`${file} line ${info.lines}: ${col} ${issue.message}${got}`);
    }
    return { line: info.lines, value: r.data };
  });
}

export interface FeederCsv {
  buses: { text: string; file: string };
  branches: { text: string; file: string };
  base_kv: number;
  slack_voltage_pu?: number;
  name?: string;
  /** Voltage limits for buses whose vmin_pu/vmax_pu cells are absent. */
  default_vmin_pu?: number;
  default_vmax_pu?: number;
}

/** Builds a network from the text of buses.csv and branches.csv. */
export function parseFeederCsv(src: FeederCsv): Network {
  if (!(src.base_kv > 0))
    throw new CsvError(`base voltage must be a positive number of kV, got ${src.base_kv}`);
  const buses = parseRows(src.buses.text, src.buses.file, busRow, ['bus', 'type', 'p_kw', 'q_kvar']);
  const branches = parseRows(src.branches.text, src.branches.file, branchRow, [
    'from_bus',
    'to_bus',
    'r_ohm',
    'x_ohm',
  ]);

  // Cross-row checks keep the line numbers the network builder no longer knows.
  const busLine = new Map<string, number>();
  for (const { line, value } of buses) {
    const first = busLine.get(value.bus);
    if (first !== undefined)
      throw new CsvError(
        `${src.buses.file} line ${line}: bus "${value.bus}" already defined on line ${first}`,
      );
    busLine.set(value.bus, line);
    const lo = value.vmin_pu;
    const hi = value.vmax_pu;
    // Equal limits are a fixed voltage (MATPOWER writes Vmin = Vmax = 1 for a slack bus): accepted.
    if (lo !== undefined && hi !== undefined && lo > hi) {
      throw new CsvError(`${src.buses.file} line ${line}: vmin_pu (${lo}) must not exceed vmax_pu (${hi})`);
    }
  }
  const slackLines = buses.filter((b) => b.value.type === 'slack').map((b) => b.line);
  if (slackLines.length !== 1) {
    throw new CsvError(
      `${src.buses.file}: need exactly one bus of type slack, found ${slackLines.length}${slackLines.length ? ` (lines ${slackLines.join(', ')})` : ''}`,
    );
  }
  for (const { line, value } of branches) {
    for (const end of [value.from_bus, value.to_bus]) {
      if (!busLine.has(end))
        throw new CsvError(
          `${src.branches.file} line ${line}: unknown bus "${end}" (not in ${src.buses.file})`,
        );
    }
    if (value.from_bus === value.to_bus) {
      throw new CsvError(
        `${src.branches.file} line ${line}: branch connects bus "${value.from_bus}" to itself`,
      );
    }
  }

  const input: NetworkInput = {
    name: src.name,
    base_voltage_v: src.base_kv * 1000,
    slack_voltage_pu: src.slack_voltage_pu,
    buses: buses.map(({ value: b }) => ({
      id: b.bus,
      type: b.type,
      vmin_pu: b.vmin_pu ?? src.default_vmin_pu,
      vmax_pu: b.vmax_pu ?? src.default_vmax_pu,
    })),
    branches: branches.map(({ value: b }) => ({
      id: b.id,
      from_bus: b.from_bus,
      to_bus: b.to_bus,
      r_ohm: b.r_ohm,
      x_ohm: b.x_ohm,
      in_service: b.in_service,
      rating_va: b.rating_kva === undefined ? undefined : b.rating_kva * 1000,
    })),
    loads: buses
      .filter(({ value: b }) => b.p_kw !== 0 || b.q_kvar !== 0)
      .map(({ value: b }) => ({ bus: b.bus, p_w: b.p_kw * 1000, q_var: b.q_kvar * 1000 })),
    ders: buses
      .filter(({ value: b }) => (b.gen_kw ?? 0) !== 0 || (b.gen_kvar ?? 0) !== 0)
      .map(({ value: b }) => ({ bus: b.bus, p_w: (b.gen_kw ?? 0) * 1000, q_var: (b.gen_kvar ?? 0) * 1000 })),
  };
  try {
    return buildNetwork(input);
  } catch (err) {
    if (err instanceof NetworkError)
      throw new CsvError(`${src.buses.file}, ${src.branches.file}: ${err.message}`);
    throw err;
  }
}

/** Reads buses.csv and branches.csv from disk. */
export async function loadFeederCsv(
  paths: { buses: string; branches: string } & Omit<FeederCsv, 'buses' | 'branches'>,
): Promise<Network> {
  const [b, br] = await Promise.all([readText(paths.buses), readText(paths.branches)]);
  return parseFeederCsv({
    ...paths,
    buses: { text: b, file: paths.buses },
    branches: { text: br, file: paths.branches },
  });
}

/** Parses offers.csv; buses are checked against the network when given. */
export function parseOffersCsv(csv: string, file: string, network?: Network): Offer[] {
  const rows = parseRows(csv, file, offerRow, ['bus', 'direction', 'quantity_kw', 'price_per_mwh']);
  const busIds = network ? new Set(network.buses.map((b) => b.id)) : undefined;
  return rows.map(({ line, value: o }) => {
    if (busIds && !busIds.has(o.bus)) throw new CsvError(`${file} line ${line}: unknown bus "${o.bus}"`);
    return {
      id: o.id ?? `${file.split('/').pop()}:${line}`,
      bus: o.bus,
      direction: o.direction,
      quantity_w: o.quantity_kw * 1000,
      price_per_mwh: o.price_per_mwh,
    };
  });
}

export async function loadOffersCsv(path: string, network?: Network): Promise<Offer[]> {
  return parseOffersCsv(await readText(path), path, network);
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CsvError(`${path}: cannot read file${code ? ` (${code})` : ''}`);
  }
}
