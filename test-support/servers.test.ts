import assert from 'node:assert/strict';
import pg from 'pg';
import { startInfluxDB } from './influxdb.ts';
import { startPostgres } from './postgres.ts';

describe('test harness: influxdb and postgres', function () {
  this.timeout(60000);

  it('starts a real InfluxDB 1.x that accepts a write and answers a query', async () => {
    const influx = await startInfluxDB();
    try {
      await influx.createDatabase('h');
      const w = await fetch(`${influx.url}/write?db=h&precision=ms`, {
        method: 'POST',
        body: 'm,t=a v=1.5 1700000000000',
      });
      assert.equal(w.status, 204);
      const q = await fetch(`${influx.url}/query?db=h&q=${encodeURIComponent('SELECT v FROM m')}`);
      const body = (await q.json()) as { results: { series: { values: unknown[][] }[] }[] };
      assert.equal(body.results[0].series[0].values[0][1], 1.5);
    } finally {
      await influx.stop();
    }
  });

  it('starts a real PostgreSQL 15 reachable over TCP', async () => {
    const server = await startPostgres();
    const client = new pg.Client({ connectionString: server.connectionString });
    try {
      await client.connect();
      const r = await client.query('SELECT current_setting($1) AS v', ['server_version_num']);
      assert.match(r.rows[0].v, /^15/);
    } finally {
      await client.end();
      await server.stop();
    }
  });
});
