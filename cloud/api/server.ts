import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Logger } from 'pino';
import { FailureThrottle } from '../auth/failure-throttle.ts';
import { tokenAuthenticator } from './auth.ts';
import { answerErrors } from './errors.ts';
import { mount, openApiDocument } from './route.ts';
import { type ApiDeps, apiRoutes } from './routes.ts';
import { serveOperatorPage } from './ui.ts';

export const API_PREFIX = '/api/v1';

export interface ApiListen {
  host: string;
  port: number;
  /** PEM files: the API then speaks HTTPS only (gateways present enrolment codes here). */
  tls?: { cert: string; key: string };
}

export async function startApi(deps: ApiDeps, listen: ApiListen, log: Logger) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));
  const enrolThrottle = new FailureThrottle({
    what: 'enrolment code',
    maxFailures: deps.enrolment.throttle.maxFailures,
    windowMs: deps.enrolment.throttle.windowSeconds * 1000,
    log,
  });
  const routes = apiRoutes(deps, { enrolThrottle });
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
  serveOperatorPage(app);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(answerErrors(log));
  const server = listen.tls
    ? createHttpsServer(
        { cert: readFileSync(listen.tls.cert), key: readFileSync(listen.tls.key), minVersion: 'TLSv1.2' },
        app,
      ).listen(listen.port, listen.host)
    : app.listen(listen.port, listen.host);
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
        enrolThrottle.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
