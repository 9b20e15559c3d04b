import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startTestCloud } from '../../../test-support/cloud/test-cloud.ts';
import { parseCloudConfig } from '../../config.ts';

const ieee33 = fileURLToPath(new URL('../../network/feeders/ieee33', import.meta.url));

describe('one feeder for the cloud (network.feeder) also serves the market', function () {
  this.timeout(30000);

  it('the market clears on the grid service feeder when market.networkFile is absent', async () => {
    const t = await startTestCloud({ network: { feeder: { dir: ieee33, baseKv: 12.66 } } });
    try {
      assert.equal(t.cloud.market!.network, t.cloud.grid.network);
      assert.equal(t.cloud.market!.network!.buses.length, 33);
    } finally {
      await t.stop();
    }
  });

  it('naming the feeder twice is a config error; the deprecated key alone still parses', () => {
    assert.throws(
      () =>
        parseCloudConfig({
          market: { networkFile: 'f.json' },
          network: { feeder: { dir: ieee33, baseKv: 12.66 } },
        }),
      /keep only network.feeder/,
    );
    assert.match(
      parseCloudConfig({ market: { networkFile: 'f.json' } }, '/tmp').market.networkFile!,
      /\/tmp\/f.json$/,
    );
  });
});
