import assert from 'node:assert/strict';
import {
  commandSchema,
  MAX_PAYLOAD_BYTES,
  negotiatedVersion,
  parsePayload,
  statusSchema,
  telemetryBatchSchema,
} from './payloads.ts';
import { parseSiteTopic, siteTopic } from './topics.ts';

const now = Date.UTC(2026, 5, 1, 12);

describe('MQTT v1 payloads', () => {
  const batch = {
    v: 1,
    site: 'site-1',
    seq: 7,
    samples: [{ ts: now, device: 'inv1', values: { w: 4200, hz: 50.01 }, quality: { hz: 'stale' } }],
  };

  it('negotiates the highest version both sides read', () => {
    assert.equal(negotiatedVersion([1, 2], [1, 2, 3]), 2); // an older cloud: the newer edge writes v2
    assert.equal(negotiatedVersion([1, 2, 3], [1, 2]), 2); // a newer cloud: the older edge keeps its v2
    assert.equal(negotiatedVersion([1], [1]), 1); // today
    assert.equal(negotiatedVersion([4], [1, 2]), 1); // nothing in common: our oldest
    assert.equal(negotiatedVersion(undefined, [1]), 1); // not announced yet
  });

  it('reads a newer status as the current version only when asked to, and never a newer command', () => {
    const status = JSON.stringify({ v: 3, site: 'site-1', state: 'online', ts: now, battery_bus: 'x' });
    assert.deepEqual(parsePayload(statusSchema, status), {
      ok: false,
      error: 'unsupported schema version 3',
    });
    const r = parsePayload(statusSchema, status, undefined, { newerAsCurrent: true });
    assert.deepEqual(r, { ok: true, value: { v: 1, site: 'site-1', state: 'online', ts: now } });
    const cmd = JSON.stringify({
      v: 2,
      id: 'cmd-00000001',
      site: 'site-1',
      type: 'connect',
      connected: false,
      issuedAt: now,
      expiresAt: now + 60_000,
    });
    assert.equal(parsePayload(commandSchema, cmd).ok, false);
  });

  it('accepts a valid telemetry batch', () => {
    const r = parsePayload(telemetryBatchSchema, JSON.stringify(batch));
    assert.equal(r.ok, true);
    if (r.ok) assert.equal(r.value.samples[0].values.w, 4200);
  });

  it('refuses non-JSON, wrong version, unknown points and oversized payloads with a reason', () => {
    const notJson = parsePayload(telemetryBatchSchema, '{"v":1,');
    assert.equal(notJson.ok, false);
    assert.match(!notJson.ok ? notJson.error : '', /not JSON/);

    const v2 = parsePayload(telemetryBatchSchema, JSON.stringify({ ...batch, v: 2 }));
    assert.match(!v2.ok ? v2.error : '', /unsupported schema version 2/);

    const unknownPoint = { ...batch, samples: [{ ts: now, device: 'inv1', values: { watts: 1 } }] };
    const r3 = parsePayload(telemetryBatchSchema, JSON.stringify(unknownPoint));
    assert.equal(r3.ok, false);
    assert.match(!r3.ok ? r3.error : '', /samples\.0\.values/);

    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 32);
    assert.match(((r) => (!r.ok ? r.error : ''))(parsePayload(telemetryBatchSchema, big)), /too large/);
  });

  it('refuses a command whose expiry is not after its issue time', () => {
    const cmd = {
      v: 1,
      id: 'cmd-00000001',
      site: 's1',
      issuedAt: now,
      expiresAt: now,
      type: 'battery_power',
      w: -3000,
    };
    const r = commandSchema.safeParse(cmd);
    assert.equal(r.success, false);
    assert.equal(commandSchema.safeParse({ ...cmd, expiresAt: now + 60_000 }).success, true);
  });

  it('builds and parses site topics, refusing wildcard site ids', () => {
    assert.equal(siteTopic('s1', 'commands'), 'gridlayer/v1/sites/s1/commands');
    assert.deepEqual(parseSiteTopic('gridlayer/v1/sites/s1/telemetry'), { siteId: 's1', kind: 'telemetry' });
    assert.equal(parseSiteTopic('gridlayer/v1/sites/s1/other'), undefined);
    assert.throws(() => siteTopic('a/+', 'telemetry'), /invalid site id/);
  });
});
