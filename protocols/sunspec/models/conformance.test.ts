import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GroupDef, PointDef } from '../types.ts';
import { MODELS } from './index.ts';

/**
 * Checks our typed model definitions against the SunSpec Alliance's official JSON definitions,
 * point by point. The JSON is read from the shared reference folder (never copied into the repo).
 */

const REQUIRED_IDS = [
  1, 101, 102, 103, 111, 112, 113, 120, 121, 122, 123, 124, 126, 160, 201, 202, 203, 204, 211, 212, 213, 701,
  702, 703, 704, 705, 706, 707, 708, 709, 710, 711, 712, 713, 802,
];

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const modelsDir = process.env.SUNSPEC_MODELS_DIR ?? path.resolve(repoRoot, '..', 'shared', 'sunspec-models');

interface OfficialSymbol {
  name: string;
  value: number;
}

interface OfficialPoint {
  name: string;
  type: string;
  size: number;
  sf?: string;
  access?: 'R' | 'RW';
  units?: string;
  mandatory?: 'M' | 'O';
  static?: 'S' | 'D';
  symbols?: OfficialSymbol[];
  value?: number | string;
}

interface OfficialGroup {
  name: string;
  label?: string;
  count?: number | string;
  points: OfficialPoint[];
  groups?: OfficialGroup[];
}

interface OfficialModel {
  id: number;
  group: OfficialGroup;
}

function loadOfficial(id: number): OfficialModel {
  if (!existsSync(modelsDir)) {
    assert.fail(
      `SunSpec reference folder not found: ${modelsDir}. ` +
        'Provide the official JSON definitions there or set SUNSPEC_MODELS_DIR.',
    );
  }
  const file = path.join(modelsDir, `model_${id}.json`);
  if (!existsSync(file)) assert.fail(`official definition missing: ${file}`);
  return JSON.parse(readFileSync(file, 'utf8')) as OfficialModel;
}

/** The comparable facts about one point, in one shape for both sides. */
interface PointFacts {
  name: string;
  offset: number;
  size: number;
  type: string;
  sf?: string;
  access: string;
  mandatory: boolean;
  static: boolean;
  units?: string;
  symbols?: Record<string, number>;
  value?: number;
}

/** Register offsets are cumulative sizes within the group (the group's own start is offset 0). */
function withOffsets<P extends { size: number }>(points: readonly P[]): [P, number][] {
  let offset = 0;
  return points.map((p) => {
    const at = offset;
    offset += p.size;
    return [p, at];
  });
}

// `L` is skipped for `value`: 7xx JSON pins L's value, our builder derives length from the points.
const comparableValue = (name: string, value: unknown) =>
  name !== 'L' && typeof value === 'number' ? value : undefined;

function oursFacts(p: PointDef, offset: number): PointFacts {
  return {
    name: p.name,
    offset,
    size: p.size,
    type: p.type,
    sf: p.sf,
    access: p.access,
    mandatory: p.mandatory === true,
    static: p.static === true,
    units: p.units,
    symbols: p.symbols ? { ...p.symbols } : undefined,
    value: comparableValue(p.name, p.value),
  };
}

function officialFacts(p: OfficialPoint, offset: number): PointFacts {
  return {
    name: p.name,
    offset,
    size: p.size,
    type: p.type,
    sf: p.sf,
    access: p.access ?? 'R',
    mandatory: p.mandatory === 'M',
    static: p.static === 'S',
    units: p.units,
    symbols: p.symbols ? Object.fromEntries(p.symbols.map((s) => [s.name, s.value])) : undefined,
    value: comparableValue(p.name, p.value),
  };
}

function compareGroup(ours: GroupDef, official: OfficialGroup, where: string): void {
  assert.equal(ours.name, official.name, `${where}: group name`);
  assert.equal(ours.count, official.count, `${where}: group count`);
  assert.deepEqual(
    ours.points.map((p) => p.name),
    official.points.map((p) => p.name),
    `${where}: point names and order`,
  );
  const officialPoints = withOffsets(official.points);
  withOffsets(ours.points).forEach(([p, offset], i) => {
    const [op, officialOffset] = officialPoints[i];
    assert.deepEqual(oursFacts(p, offset), officialFacts(op, officialOffset), `${where}.${p.name}`);
  });
  const ourGroups = ours.groups ?? [];
  const officialGroups = official.groups ?? [];
  assert.deepEqual(
    ourGroups.map((g) => g.name),
    officialGroups.map((g) => g.name),
    `${where}: nested group names and order`,
  );
  ourGroups.forEach((g, i) => {
    compareGroup(g, officialGroups[i], `${where}.${g.name}`);
  });
}

/** The nearest point of that name, searching this group first, then enclosing groups outwards. */
function resolve(name: string, scopes: readonly (readonly PointDef[])[]): PointDef | undefined {
  for (const points of scopes) {
    const found = points.find((p) => p.name === name);
    if (found) return found;
  }
  return undefined;
}

/** Every `sf` must name a sunssf point and every named `count` a point, in this or an enclosing group. */
function checkReferences(g: GroupDef, enclosing: readonly (readonly PointDef[])[], where: string): void {
  if (typeof g.count === 'string') {
    assert.ok(
      resolve(g.count, enclosing),
      `${where}: count point ${g.count} not found in an enclosing group`,
    );
  }
  const scopes = [g.points, ...enclosing];
  for (const p of g.points) {
    if (p.sf === undefined) continue;
    const scale = resolve(p.sf, scopes);
    assert.equal(scale?.type, 'sunssf', `${where}.${p.name}: sf ${p.sf} must resolve to a sunssf point`);
  }
  for (const sub of g.groups ?? []) checkReferences(sub, scopes, `${where}.${sub.name}`);
}

describe('SunSpec model definitions conform to the official SunSpec JSON', () => {
  it('define every required model', () => {
    const missing = REQUIRED_IDS.filter((id) => !MODELS.has(id));
    assert.deepEqual(missing, [], `models missing from MODELS: ${missing.join(', ')}`);
  });

  for (const [id, def] of MODELS) {
    it(`model ${id} (${def.group.name}) matches model_${id}.json`, () => {
      const official = loadOfficial(id);
      assert.equal(def.id, id, 'registry key equals model id');
      assert.equal(official.id, id, 'official file id');
      assert.equal(def.label, official.group.label?.trim(), 'label');
      const [idPoint, lPoint] = def.group.points;
      assert.equal(idPoint?.name, 'ID');
      assert.equal(idPoint?.value, id, 'ID point value');
      assert.equal(lPoint?.name, 'L');
      compareGroup(def.group, official.group, `model ${id}`);
      checkReferences(def.group, [], `model ${id}`);
    });
  }
});
