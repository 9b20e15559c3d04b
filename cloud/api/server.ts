import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Logger } from 'pino';
import { serveApp } from '../app/serve.ts';
import { FailureThrottle } from '../auth/failure-throttle.ts';
import type { CloudConfig } from '../config.ts';
import { tokenAuthenticator } from './auth.ts';
import { answerErrors } from './errors.ts';
import { mount, openApiDocument } from './route.ts';
import { type ApiDeps, apiRoutes } from './routes.ts';
import { EventStreams } from './routes-fleet.ts';

export const API_PREFIX = '/api/v1';

/** The api: block of the cloud config. */
export type ApiSettings = CloudConfig['api'];

export async function startApi(deps: ApiDeps, settings: ApiSettings, log: Logger) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));
  const throttle = new FailureThrottle({
    what: 'API auth',
    maxFailures: deps.auth.throttle.maxFailures,
    windowMs: deps.auth.throttle.windowSeconds * 1000,
    log,
    onEvent: (e) => deps.metrics.apiAuthFailures.inc({ result: e === 'failure' ? 'refused' : 'throttled' }),
  });
  const sessions = {
    idleMs: settings.sessions.idleSeconds * 1000,
    absoluteMs: settings.sessions.absoluteSeconds * 1000,
  };
  const streams = deps.live ? new EventStreams(deps.live.hub, settings.events) : undefined;
  const routes = apiRoutes(deps, {
    sessions: {
      registry: deps.registry,
      throttle,
      sessions: { ...sessions, secureCookie: settings.sessions.secureCookie },
      sessionEnded: (h) => streams?.endSession(h),
    },
    fleet: settings.fleet,
    ...(streams ? { streams } : {}),
  });
  const doc = openApiDocument(API_PREFIX, routes, { title: 'gridlayer cloud DERMS API', version: '1.0.0' });
  app.get(`${API_PREFIX}/openapi.json`, (_req, res) => {
    res.json(doc);
  });
  const audit = deps.registry.audit.bind(deps.registry);
  mount(app, API_PREFIX, routes, tokenAuthenticator(deps.registry, { throttle, log, sessions }), audit);
  serveApp(app);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(answerErrors(log));
  const server = app.listen(settings.port, settings.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    doc,
    streams,
    close: () =>
      new Promise<void>((resolve) => {
        throttle.stop();
        // Live streams end first (cleanly, with their last event), then the listener and the rest.
        streams?.closeAll();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
