import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CANONICAL_POINT_NAMES } from '../canonical/points.ts';
import { parsePayload, telemetryBatchSchema } from './payloads.ts';
import { isPlainTelemetryBatch } from './telemetry-fast.ts';

const MIN_TS = 946684800000;
const junk = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.string({ maxLength: 3 }),
  fc.double(),
  fc.integer(),
  fc.constant([]),
  fc.constant({}),
);
const finite = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
const point = fc.constantFrom(...CANONICAL_POINT_NAMES, 'zz', 'W', '__proto__', 'constructor', 'toString');
const idChars = fc.constantFrom('a', 'Z', '0', '_', '.', '-', ':', ' ', '/', '+', '#', '\n', 'é');
const id = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,8}$/),
  fc.string({ unit: idChars, minLength: 0, maxLength: 6 }),
  fc.constantFrom('a'.repeat(63), 'a'.repeat(64), 'a'.repeat(65), ''),
  junk,
);
const int = (min: number) =>
  fc.oneof(
    fc.integer({ min, max: min + 1_000_000 }),
    fc.constantFrom(min - 1, min, -1, 0, -0, 0.5, min + 0.5, 2 ** 53 - 1, 2 ** 53, Number.MAX_VALUE),
    fc.constantFrom(Number.POSITIVE_INFINITY, Number.NaN),
    junk,
  );
const opt = { requiredKeys: [] as never[] };
const sample = fc.record(
  {
    ts: int(MIN_TS),
    device: id,
    values: fc.oneof(fc.dictionary(point, fc.oneof(finite, finite, junk), { maxKeys: 4 }), junk),
    quality: fc.oneof(
      fc.dictionary(point, fc.oneof(fc.constantFrom('good', 'stale', 'invalid', 'bad'), junk), {
        maxKeys: 3,
      }),
      junk,
    ),
    extra: junk,
  },
  opt,
);
/** Telemetry-shaped values, valid or off by one thing or many, with keys sometimes missing or extra. */
const batch = fc.record(
  {
    v: fc.oneof(fc.constant(1), fc.constantFrom(2, '1', 1.5, 0)),
    site: id,
    seq: int(0),
    replay: fc.oneof(fc.boolean(), junk),
    samples: fc.oneof(fc.array(sample, { maxLength: 3 }), junk),
    extra: junk,
  },
  opt,
);

/** Valid batches in the shape gateways send: the fast path must take these. */
const validBatch = fc.record(
  {
    v: fc.constant(1),
    site: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
    seq: fc.integer({ min: 0 }),
    replay: fc.boolean(),
    samples: fc.array(
      fc.record(
        {
          ts: fc.integer({ min: MIN_TS, max: 2 ** 53 - 1 }),
          device: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
          values: fc.dictionary(fc.constantFrom(...CANONICAL_POINT_NAMES), finite),
          quality: fc.dictionary(
            fc.constantFrom(...CANONICAL_POINT_NAMES),
            fc.constantFrom('good', 'stale', 'invalid'),
          ),
        },
        { requiredKeys: ['ts', 'device', 'values'] },
      ),
      { minLength: 1, maxLength: 5 },
    ),
  },
  { requiredKeys: ['v', 'site', 'seq', 'samples'] },
);

/** Any value a field could get wrong (or right). */
const anything = fc.oneof(
  id,
  int(MIN_TS),
  int(0),
  finite,
  junk,
  fc.constantFrom('good', 'stale', 'invalid', 'bad', Number.POSITIVE_INFINITY, 'a'.repeat(65)),
  fc.array(fc.constant({}), { maxLength: 2 }),
);
type Obj = Record<string, unknown>;
/** A valid batch with one thing changed (a field set to another value, added or deleted) somewhere. */
const mutated = fc
  .tuple(
    validBatch,
    fc.constantFrom('top', 'sample', 'values', 'quality'),
    fc.constantFrom('v', 'site', 'seq', 'replay', 'samples', 'ts', 'device', 'values', 'quality', 'x'),
    point,
    anything,
    fc.boolean(),
  )
  .map(([b, where, field, p, value, del]) => {
    const x = JSON.parse(JSON.stringify(b)) as Obj;
    const s = (x.samples as Obj[])[0];
    if ((where === 'values' || where === 'quality') && !s[where]) s[where] = {};
    const target = (where === 'top' ? x : where === 'sample' ? s : s[where]) as Obj;
    const key = where === 'values' || where === 'quality' ? p : field;
    if (del) delete target[key];
    else target[key] = value;
    return x;
  });

const parseBoth = (text: string) => ({
  fast: parsePayload(telemetryBatchSchema, text, isPlainTelemetryBatch),
  zod: parsePayload(telemetryBatchSchema, text),
});

describe('telemetry fast path', () => {
  it('accepts only what the schema accepts, and then exactly the schema output', () => {
    fc.assert(
      fc.property(fc.oneof(batch, mutated), (x) => {
        if (!isPlainTelemetryBatch(x)) return;
        const r = telemetryBatchSchema.safeParse(x);
        assert.ok(r.success, 'the schema refuses a batch the fast path accepted');
        assert.deepStrictEqual(r.data, x);
      }),
      { numRuns: 3000 },
    );
  });

  it('parsePayload gives the same result (value or error message) with and without it', () => {
    fc.assert(
      fc.property(fc.oneof(batch, mutated), (x) => {
        const { fast, zod } = parseBoth(JSON.stringify(x));
        assert.deepStrictEqual(fast, zod);
      }),
      { numRuns: 3000 },
    );
  });

  it('takes valid batches of the usual shape (so it is actually the hot path)', () => {
    fc.assert(
      fc.property(validBatch, (x) => {
        const json = JSON.parse(JSON.stringify(x));
        assert.ok(isPlainTelemetryBatch(json));
        assert.ok(telemetryBatchSchema.safeParse(json).success);
      }),
      { numRuns: 1000 },
    );
  });

  it('leaves edge cases to the schema: limits, overflow to Infinity, keys the schema strips', () => {
    const ok = { v: 1, site: 's', seq: 0, samples: [{ ts: MIN_TS, device: 'd', values: { w: 1 } }] };
    const cases: [string, boolean][] = [
      [JSON.stringify(ok), true],
      [JSON.stringify({ ...ok, samples: Array(5000).fill(ok.samples[0]) }), true],
      [JSON.stringify({ ...ok, samples: Array(5001).fill(ok.samples[0]) }), false],
      [JSON.stringify({ ...ok, samples: [] }), false],
      [JSON.stringify(ok).replace('"w":1', '"w":1e999'), false],
      [JSON.stringify(ok).replace('"w":1', '"__proto__":1'), true],
      [JSON.stringify({ ...ok, extra: 1 }), true],
      [JSON.stringify({ ...ok, seq: 2 ** 53 }), false],
      [JSON.stringify({ ...ok, v: 2 }), false],
    ];
    for (const [text, valid] of cases) {
      const { fast, zod } = parseBoth(text);
      assert.deepStrictEqual(fast, zod, text.slice(0, 80));
      assert.equal(fast.ok, valid, text.slice(0, 80));
    }
    // Stripped keys: the schema's output (without them) is what comes back.
    const r = parseBoth(JSON.stringify({ ...ok, extra: 1 })).fast;
    assert.ok(r.ok && !('extra' in r.value));
  });
});
