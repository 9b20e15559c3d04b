import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one cloud service instance (own registry: tests run several in one process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gridlayer_cloud_' });
  const m = {
    registry,
    messages: new Counter({
      name: 'gridlayer_ingest_messages_total',
      help: 'MQTT messages received from gateways, by kind and result (accepted, rejected, duplicate)',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    rejects: new Counter({
      name: 'gridlayer_ingest_rejects_total',
      help: 'Messages kept out of storage, by reason class',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    quarantined: new Counter({
      name: 'gridlayer_ingest_quarantined_total',
      help: 'Telemetry values (or whole messages) acknowledged but kept in quarantine instead of stored, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    quarantineNotKept: new Counter({
      name: 'gridlayer_ingest_quarantine_not_kept_total',
      help: 'Refused telemetry values acknowledged but not kept in quarantine (the site used up its quarantine budget), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    points: new Counter({
      name: 'gridlayer_ingest_points_total',
      help: 'Point values written to the time-series store',
      registers: [registry],
    }),
    writeErrors: new Counter({
      name: 'gridlayer_ingest_write_errors_total',
      help: 'Failed time-series writes (retried)',
      registers: [registry],
    }),
    buffered: new Gauge({
      name: 'gridlayer_ingest_buffered_points',
      help: 'Points waiting to be written',
      registers: [registry],
    }),
    lag: new Histogram({
      name: 'gridlayer_ingest_lag_seconds',
      help: 'Sample timestamp to stored, per written batch (newest sample)',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600],
      registers: [registry],
    }),
    writeSeconds: new Histogram({
      name: 'gridlayer_ingest_write_seconds',
      help: 'Duration of one time-series write',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    clients: new Gauge({
      name: 'gridlayer_broker_clients',
      help: 'Connected MQTT clients (embedded broker)',
      registers: [registry],
    }),
    aclDenied: new Counter({
      name: 'gridlayer_broker_acl_denied_total',
      help: 'Publishes/subscriptions refused by the topic ACL, and failed logins',
      labelNames: ['op'] as const,
      registers: [registry],
    }),
    apiAuthFailures: new Counter({
      name: 'gridlayer_api_auth_failures_total',
      help: 'API requests refused for a bad token (refused) or while their source was throttled (throttled)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    commands: new Counter({
      name: 'gridlayer_commands_total',
      help: 'Command lifecycle transitions',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;
