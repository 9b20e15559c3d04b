import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_SCHEMA_FILES, type ConfigSchemaFile, SCHEMA_DIR, schemaDrift } from './config-schema.ts';

const checkedIn = (f: ConfigSchemaFile) => {
  const file = path.join(SCHEMA_DIR, f.file);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
};
const entry = (file: string) => CONFIG_SCHEMA_FILES.find((f) => f.file === file)!;
const parsed = (file: string) => JSON.parse(checkedIn(entry(file)) ?? 'null');

describe('config JSON Schemas in docs/schema/', () => {
  for (const f of CONFIG_SCHEMA_FILES) {
    it(`${f.file} matches what ${f.source} generates`, () => {
      const drift = schemaDrift(f, checkedIn(f));
      assert.equal(drift, null, drift ?? '');
    });
  }

  it('reports a stale or missing file with the command that fixes it', () => {
    const f = entry('edge-config.schema.json');
    const stale = parsed(f.file);
    delete stale.properties.site.description;
    assert.equal(
      schemaDrift(f, JSON.stringify(stale)),
      'docs/schema/edge-config.schema.json is out of date with edge/config.ts: run `npm run schema` and commit the result',
    );
    assert.match(
      schemaDrift(f, undefined) ?? '',
      /edge-config\.schema\.json is missing: run `npm run schema`/,
    );
    assert.match(schemaDrift(f, '{ not json') ?? '', /is not JSON .*npm run schema/);
  });

  it('describe what a user writes: keys with defaults are optional, unknown keys refused', () => {
    const edge = parsed('edge-config.schema.json');
    // edge/config.ts: site, uplink, buffer and devices have neither a default nor .optional().
    assert.deepEqual([...edge.required].sort(), ['buffer', 'devices', 'site', 'uplink']);
    assert.equal(edge.additionalProperties, false);
    assert.deepEqual(
      edge.properties.devices.items.anyOf.map((d: any) => d.properties.protocol.const),
      ['modbus-tcp', 'modbus-rtu', 'opcua'],
    );
    assert.equal(edge.properties.uplink.properties.keepaliveS.default, 30);
    const cloud = parsed('cloud-config.schema.json');
    // cloud/config.ts: every top-level key has a default, so an empty file is a valid config.
    assert.equal(cloud.required, undefined);
    assert.equal(cloud.additionalProperties, false);
    assert.equal(cloud.properties.api.properties.port.default, 8080);
  });
});
