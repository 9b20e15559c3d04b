import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseCloudConfig } from './config.ts';

const refused = (input: unknown, ...patterns: RegExp[]) => {
  assert.throws(
    () => parseCloudConfig(input),
    (err: Error) => {
      assert.match(err.message, /^invalid cloud config: /);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );
};

describe('cloud config: cross-field checks name both keys', () => {
  it('accepts the defaults and every pair at its boundary', () => {
    parseCloudConfig({});
    parseCloudConfig({
      commands: { defaultTtlSeconds: 600, maxTtlSeconds: 600 },
      auth: { tokenDefaultTtlSeconds: 3600, tokenMaxTtlSeconds: 3600 },
      ingest: { smallBatchPoints: 500, maxBatchPoints: 500, maxBufferedPoints: 500 },
      vpp: { socMinPct: 20, socMaxPct: 21, commandTtlS: 5, loopMs: 4999 },
      forecast: { everyMinutes: 120, horizonHours: 2 },
      market: { meteredSettlement: { delayMs: 0, lookbackMs: 3_600_000 } },
      network: { feeder: { dir: '.', baseKv: 12.66, vminPu: 1, vmaxPu: 1 } },
    });
  });

  it('refuses commands.defaultTtlSeconds above commands.maxTtlSeconds (the finding)', () => {
    refused(
      { commands: { defaultTtlSeconds: 90_000 } },
      /commands\.defaultTtlSeconds \(90000\) must not exceed commands\.maxTtlSeconds \(86400\)/,
      /every command sent without its own ttlSeconds would be refused/,
    );
    refused(
      { commands: { defaultTtlSeconds: 301, maxTtlSeconds: 300 } },
      /commands\.defaultTtlSeconds \(301\) must not exceed commands\.maxTtlSeconds \(300\)/,
    );
  });

  it('refuses auth.tokenDefaultTtlSeconds above auth.tokenMaxTtlSeconds', () => {
    refused(
      { auth: { tokenMaxTtlSeconds: 3600 } },
      /auth\.tokenDefaultTtlSeconds \(7776000\) must not exceed auth\.tokenMaxTtlSeconds \(3600\)/,
    );
  });

  it('refuses ingest batch sizes out of order', () => {
    refused(
      { ingest: { smallBatchPoints: 20_000 } },
      /ingest\.smallBatchPoints \(20000\) must not exceed ingest\.maxBatchPoints \(10000\)/,
    );
    refused(
      { ingest: { maxBufferedPoints: 5000 } },
      /ingest\.maxBatchPoints \(10000\) must not exceed ingest\.maxBufferedPoints \(5000\)/,
    );
  });

  it('refuses a VPP SoC band that is empty, and a VPP command TTL the loop or the command maximum defeats', () => {
    refused(
      { vpp: { socMinPct: 60, socMaxPct: 40 } },
      /vpp\.socMinPct \(60\) must be below vpp\.socMaxPct \(40\)/,
    );
    // The default socMaxPct (100) is compared when only the minimum is given.
    refused({ vpp: { socMinPct: 100 } }, /vpp\.socMinPct \(100\) must be below vpp\.socMaxPct \(100\)/);
    refused(
      { vpp: { commandTtlS: 4 } },
      /vpp\.commandTtlS \(4 s\) must be longer than vpp\.loopMs \(4000 ms\)/,
    );
    refused(
      { vpp: { commandTtlS: 900 }, commands: { maxTtlSeconds: 600 } },
      /vpp\.commandTtlS \(900\) must not exceed commands\.maxTtlSeconds \(600\)/,
    );
  });

  it('refuses network.feeder.vminPu above network.feeder.vmaxPu', () => {
    refused(
      { network: { feeder: { dir: '.', baseKv: 12.66, vminPu: 1.06, vmaxPu: 1.05 } } },
      /network\.feeder\.vminPu \(1\.06\) must not exceed network\.feeder\.vmaxPu \(1\.05\)/,
    );
  });

  it('refuses forecast.everyMinutes longer than forecast.horizonHours', () => {
    refused(
      { forecast: { everyMinutes: 180, horizonHours: 2 } },
      /forecast\.everyMinutes \(180\) must not exceed forecast\.horizonHours \(2 h = 120 min\)/,
    );
  });

  it('refuses a metered-settlement look-back shorter than its delay plus one hour (when automatic)', () => {
    refused(
      { market: { meteredSettlement: { delayMs: 3_600_000, lookbackMs: 7_199_999 } } },
      /market\.meteredSettlement\.lookbackMs \(7199999\) must be at least market\.meteredSettlement\.delayMs \(3600000\) \+ 1 h/,
    );
    parseCloudConfig({ market: { meteredSettlement: { auto: false, delayMs: 3_600_000, lookbackMs: 1 } } });
  });

  it('reports every contradiction at once', () => {
    refused(
      { commands: { defaultTtlSeconds: 90_000 }, vpp: { socMinPct: 60, socMaxPct: 40 } },
      /commands\.defaultTtlSeconds .*; vpp\.socMinPct/,
    );
  });
});

describe('gridlayer cloud: a contradictory config file is refused at load', function () {
  this.timeout(30_000);
  it('exits 1 naming the key, without starting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridlayer-config-'));
    try {
      const file = join(dir, 'cloud.yaml');
      writeFileSync(file, 'commands:\n  defaultTtlSeconds: 90000\n  maxTtlSeconds: 3600\n');
      const bin = fileURLToPath(new URL('../bin/gridlayer.js', import.meta.url));
      const r = await promisify(execFile)(process.execPath, [bin, 'cloud', '--config', file], {
        timeout: 20_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^gridlayer: invalid cloud config: commands\.defaultTtlSeconds \(90000\) must not exceed commands\.maxTtlSeconds \(3600\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cloud config: parsing leaves the defaults alone', () => {
  it('two configs parsed in one process resolve default paths against their own folder', () => {
    const a = parseCloudConfig({}, '/srv/a');
    const b = parseCloudConfig({}, '/srv/b');
    assert.equal(
      a.storage.timeseries.backend === 'sqlite' && a.storage.timeseries.path,
      '/srv/a/data/timeseries.db',
    );
    assert.equal(
      b.storage.timeseries.backend === 'sqlite' && b.storage.timeseries.path,
      '/srv/b/data/timeseries.db',
    );
    assert.equal(
      b.storage.registry.backend === 'sqlite' && b.storage.registry.path,
      '/srv/b/data/registry.db',
    );
  });
});
