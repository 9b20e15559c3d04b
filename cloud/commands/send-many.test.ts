import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createMetrics } from '../metrics.ts';
import { openSqlite } from '../storage/registry/db.ts';
import { Registry } from '../storage/registry/registry.ts';
import { CommandError, CommandPipeline } from './pipeline.ts';

/** A site with a battery (battery_power) and a meter, registered as a gateway would. */
async function site(reg: Registry, id: string) {
  await reg.applyCapabilities({
    v: 1,
    site: id,
    ts: Date.now(),
    devices: [
      { id: 'bat1', kind: 'battery', protocol: 'sunspec-tcp', nameplate: {}, controls: ['battery_power'] },
      { id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] },
    ],
  });
}

describe('command pipeline: a dispatch step issued as one batch (sendMany)', () => {
  let dir: string;
  let reg: Registry;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-sendmany-'));
    reg = new Registry(openSqlite(join(dir, 'registry.db')));
    await reg.init();
    for (const id of ['s1', 's2', 's3']) await site(reg, id);
  });
  after(async () => {
    await reg.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses per order with the reason, stores and audits the rest before publishing any, marks them sent', async () => {
    const published: { topic: string; storedAtPublish: string | undefined; audited: number }[] = [];
    const pipeline = new CommandPipeline({
      registry: reg,
      metrics: createMetrics(),
      log: pino({ level: 'silent' }),
      defaultTtlSeconds: 30,
      maxTtlSeconds: 600,
      expiryCheckMs: 60_000,
      // What the registry holds at the moment each command goes out.
      publish: async (topic, payload) => {
        const id = JSON.parse(payload).id as string;
        const audits = await reg.listAudit({ action: 'command.send', limit: 1000 });
        published.push({
          topic,
          storedAtPublish: (await reg.getCommand(id))?.status,
          audited: audits.filter((a) => (a.detail as { command: { id: string } }).command.id === id).length,
        });
        if (topic.includes('/s3/')) throw new Error('broker gone');
      },
    });
    const out = await pipeline.sendMany(
      [
        { site: 's1', request: { type: 'battery_power', device: 'bat1', w: 1000 } },
        { site: 'ghost', request: { type: 'battery_power', device: 'bat1', w: 1000 } },
        { site: 's2', request: { type: 'battery_power', device: 'm1', w: 1000 } },
        { site: 's2', request: { type: 'battery_power', w: -500, ttlSeconds: 5 } },
        { site: 's1', request: { type: 'battery_power', w: 1, ttlSeconds: 9999 } },
        { site: 's3', request: { type: 'battery_power', device: 'bat1', w: 7 } },
      ],
      'dispatch:d-test',
    );
    const shape = out.map((r) =>
      r instanceof CommandError
        ? [r.code, r.message]
        : r instanceof Error
          ? [r.message]
          : [r.status, r.siteId],
    );
    assert.deepEqual(shape, [
      ['sent', 's1'],
      ['not_found', 'unknown site ghost'],
      ['unprocessable', 'device m1 does not accept battery_power (controls: none)'],
      ['sent', 's2'],
      ['invalid', 'ttlSeconds 9999 exceeds the maximum 600'],
      ['failed', 's3'],
    ]);
    // Three accepted: each was stored (pending) and audited before it was published.
    assert.deepEqual(
      published.map((p) => [p.topic.split('/').slice(-2).join('/'), p.storedAtPublish, p.audited]),
      [
        ['s1/commands', 'pending', 1],
        ['s2/commands', 'pending', 1],
        ['s3/commands', 'pending', 1],
      ],
    );
    const ok = out.filter((r): r is Exclude<typeof r, Error> => !(r instanceof Error));
    const stored = await reg.getCommands(ok.map((r) => r.id));
    assert.deepEqual(
      ok.map((r) => stored.get(r.id)?.status),
      ['sent', 'sent', 'failed'],
    );
    assert.equal(stored.get(ok[2].id)?.reason, 'publish failed: broker gone');
    // The TTL asked for (5 s) is the expiry.
    const s2 = stored.get(ok[1].id);
    assert.equal((s2?.expiresAt ?? 0) - (s2?.issuedAt ?? 0), 5000);
    assert.equal(s2?.issuedBy, 'dispatch:d-test');
  });

  it('applies acks that arrive together, each with its audit row; an unknown one is refused alone', async () => {
    const pipeline = new CommandPipeline({
      registry: reg,
      metrics: createMetrics(),
      log: pino({ level: 'silent' }),
      defaultTtlSeconds: 30,
      maxTtlSeconds: 600,
      expiryCheckMs: 60_000,
      publish: async () => undefined,
    });
    const out = await pipeline.sendMany(
      ['s1', 's2', 's3'].map((s) => ({
        site: s,
        request: { type: 'battery_power', device: 'bat1', w: 100 },
      })),
      'dispatch:d-acks',
    );
    const ids = out.map((r) => (r as { id: string }).id);
    const ts = Date.now();
    const results = await Promise.allSettled([
      pipeline.onAck('s1', {
        v: 1,
        site: 's1',
        commandId: ids[0],
        ts,
        status: 'applied',
        applied: { w: 100 },
      }),
      pipeline.onAck('s2', {
        v: 1,
        site: 's2',
        commandId: ids[1],
        ts,
        status: 'refused',
        reason: 'off-grid',
      }),
      // Another site's command: refused, the rest unaffected.
      pipeline.onAck('s2', { v: 1, site: 's2', commandId: ids[2], ts, status: 'applied' }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected'],
    );
    assert.match(String((results[2] as PromiseRejectedResult).reason), /unknown command .* for site s2/);
    const stored = await reg.getCommands(ids);
    assert.deepEqual(
      ids.map((id) => stored.get(id)?.status),
      ['acknowledged', 'refused', 'sent'],
    );
    assert.deepEqual(stored.get(ids[0])?.applied, { w: 100 });
    const audits = await reg.listAudit({ limit: 1000 });
    const of = (id: string) =>
      audits.filter((a) => (a.detail as { id?: string } | null)?.id === id).map((a) => [a.actor, a.action]);
    assert.deepEqual(of(ids[0]), [['gateway:s1', 'command.acknowledged']]);
    assert.deepEqual(of(ids[1]), [['gateway:s2', 'command.refused']]);
    assert.deepEqual(of(ids[2]), []);
  });
});
