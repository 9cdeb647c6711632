// The composition root: builds the Fastify app from a Config. Nothing else wires layers together.
import { randomUUID } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { loadDefinitions, type Definitions } from './definitions/registry.js';
import type { Store } from './store/port.js';
import { createEngine } from './fhir/build.js';
import type { Indexer } from './search/extract.js';
import type { FhirContext } from './fhir/context.js';
import { fhirPlugin } from './http/plugin.js';
import { errorHandler, notFoundHandler } from './http/outcome.js';
import { createLogger } from './log.js';

export interface BuildOptions {
  /** Use this store instead of opening config.database (tests). The app closes it on close. */
  store?: (indexer: Indexer) => Store | Promise<Store>;
  definitions?: Definitions;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'flint') return pkg.version ?? '0.0.0';
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const defs = opts.definitions ?? loadDefinitions(config.profilesDir);
  const ctx: FhirContext = await createEngine({
    defs,
    baseUrl: config.baseUrl,
    database: config.database,
    paging: { defaultCount: config.defaultCount, maxCount: config.maxCount },
    readCacheEntries: config.readCacheEntries,
    integrity: config.referentialIntegrity,
    synchronous: config.sqliteSynchronous,
    bundleEntries: config.bundleMaxEntries,
    ...(opts.store ? { store: opts.store } : {}),
  });
  const store = ctx.store;
  const log = createLogger(config.logLevel);
  const app = Fastify({
    loggerInstance: log.logger as FastifyBaseLogger,
    // No child logger per request (measurable on the read path); lines carry reqId themselves.
    childLoggerFactory: (logger) => logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  });

  for (const r of defs.rejected) app.log.warn({ file: r.file, reason: r.reason }, 'profiles: file not loaded');

  // Callback-style hooks: they run on every request, and a promise per hook is measurable.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    reply.header('x-content-type-options', 'nosniff');
    done();
  });
  // One line per request. Request URLs carry search values (names, birth dates): log the route
  // pattern only, never the URL, query or body.
  app.addHook('onResponse', (req, reply, done) => {
    req.log.info({
      reqId: req.id,
      method: req.method,
      route: req.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    }, 'request');
    done();
  });
  app.addHook('onClose', async () => {
    await store.close();
    log.flush();
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  await app.register(fhirPlugin, { prefix: '/fhir', ctx, software: { name: 'Flint', version: packageVersion() } });
  app.get('/', async (_req, reply) => reply.redirect('/fhir/metadata'));
  return app;
}
