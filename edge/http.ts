/**
 * Local HTTP endpoint: `/health` (JSON; 200 when the agent is running and at least one device answers,
 * 503 otherwise) and `/metrics` (Prometheus text, prom-client). Bound to loopback by default.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class EdgeMetrics {
  readonly registry = new Registry();
  readonly polls = new Counter({
    name: 'gridlayer_edge_polls_total',
    help: 'Device polls',
    labelNames: ['device', 'result'],
    registers: [this.registry],
  });
  readonly pollSeconds = new Histogram({
    name: 'gridlayer_edge_poll_duration_seconds',
    help: 'Duration of successful device polls',
    labelNames: ['device'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly deviceUp = new Gauge({
    name: 'gridlayer_edge_device_up',
    help: '1 when the device answered its last poll',
    labelNames: ['device'],
    registers: [this.registry],
  });
  readonly bufferBatches = new Gauge({
    name: 'gridlayer_edge_buffer_batches',
    help: 'Telemetry batches waiting in the store-and-forward buffer',
    registers: [this.registry],
  });
  readonly bufferDropped = new Gauge({
    name: 'gridlayer_edge_buffer_dropped_total',
    help: 'Batches dropped by the buffer size bound (persistent count)',
    registers: [this.registry],
  });
  readonly bufferErrors = new Counter({
    name: 'gridlayer_edge_buffer_errors_total',
    help: 'Failed writes to the store-and-forward buffer (e.g. disk full): those samples are not kept',
    registers: [this.registry],
  });
  readonly bufferStaged = new Gauge({
    name: 'gridlayer_edge_buffer_staged_samples',
    help: 'Polled samples durable in the buffer, not yet sealed into a batch',
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: 'gridlayer_edge_batches_published_total',
    help: 'Telemetry batches acknowledged by the broker',
    registers: [this.registry],
  });
  readonly uplinkUp = new Gauge({
    name: 'gridlayer_edge_uplink_up',
    help: '1 when connected to the MQTT broker',
    registers: [this.registry],
  });
  readonly commands = new Counter({
    name: 'gridlayer_edge_commands_total',
    help: 'Commands by outcome',
    labelNames: ['status'],
    registers: [this.registry],
  });
  readonly controlWrites = new Counter({
    name: 'gridlayer_edge_control_writes_total',
    help: 'Setpoint writes by the control cycle',
    registers: [this.registry],
  });
  readonly mode = new Gauge({
    name: 'gridlayer_edge_remote_mode',
    help: '1 when following a cloud schedule, 0 in the default mode',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gridlayer_edge_' });
  }
}

export interface HealthReport {
  ok: boolean;
  [k: string]: unknown;
}

export async function startHttp(opts: {
  host: string;
  port: number;
  metrics: EdgeMetrics;
  health(): HealthReport;
}): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.url === '/health' || req.url === '/healthz') {
          const h = opts.health();
          res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify(h));
        } else if (req.url === '/metrics') {
          const body = await opts.metrics.registry.metrics();
          res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
          res.end(body);
        } else {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('not found: try /health or /metrics\n');
        }
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
