import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Logger } from 'pino';
import { serveApp } from '../app/serve.ts';
import { FailureThrottle } from '../auth/failure-throttle.ts';
import { tokenAuthenticator } from './auth.ts';
import { answerErrors } from './errors.ts';
import { mount, openApiDocument } from './route.ts';
import { type ApiDeps, apiRoutes } from './routes.ts';

export const API_PREFIX = '/api/v1';

export async function startApi(deps: ApiDeps, listen: { host: string; port: number }, log: Logger) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));
  const routes = apiRoutes(deps);
  const doc = openApiDocument(API_PREFIX, routes, { title: 'gridlayer cloud DERMS API', version: '1.0.0' });
  app.get(`${API_PREFIX}/openapi.json`, (_req, res) => {
    res.json(doc);
  });
  const throttle = new FailureThrottle({
    what: 'API auth',
    maxFailures: deps.auth.throttle.maxFailures,
    windowMs: deps.auth.throttle.windowSeconds * 1000,
    log,
    onEvent: (e) => deps.metrics.apiAuthFailures.inc({ result: e === 'failure' ? 'refused' : 'throttled' }),
  });
  const audit = deps.registry.audit.bind(deps.registry);
  mount(app, API_PREFIX, routes, tokenAuthenticator(deps.registry, { throttle, log }), audit);
  serveApp(app);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(answerErrors(log));
  const server = app.listen(listen.port, listen.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    doc,
    close: () =>
      new Promise<void>((resolve) => {
        throttle.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
