// The composition root: builds the Fastify app from a Config. Nothing else wires layers together.
import { randomUUID } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { loadDefinitions, type Definitions } from './definitions/registry.js';
import type { Store } from './store/port.js';
import { createEngine, searchMachinery } from './fhir/build.js';
import type { Indexer } from './search/extract.js';
import { connectMongo, openStore } from './store/open.js';
import { openRegistry } from './store/open-registry.js';
import type { MongoDb } from './store/mongo/db.js';
import type { AuthRegistry } from './store/registry.js';
import type { FhirContext, WriteHook } from './fhir/context.js';
import { fhirPlugin } from './http/plugin.js';
import { errorHandler, notFoundHandler } from './http/outcome.js';
import { createLogger } from './log.js';
import { routeOf } from './http/route-of.js';
import { AuthService, authSettings } from './auth/service.js';
import { smartGuard, externalGuard } from './auth/guard.js';
import { authPlugin, adminPlugin, discoveryPlugin } from './auth/server/index.js';
import { endpoints } from './auth/server/discovery.js';
import type { PatientLookup } from './auth/server/authorize.js';
import type { JwksFetcher } from './auth/client-auth.js';
import { registerCors } from './http/cors.js';
import { registerAudit } from './http/audit.js';
import { clientErrorHandler, frameworkErrorHandler } from './http/edge.js';
import { registerLimits } from './http/limits.js';
import { fairServer } from './http/fair.js';
import { search } from './fhir/interactions/search.js';
import type { CapabilityStatementRestSecurity } from 'fhir/r4.js';
import { clinicHooks } from './clinic/hooks.js';
import { httpPayerClient } from './http/payer-client.js';
import { capabilityOperations } from './clinic/definitions.js';
import { Router } from './fhir/router.js';
import { interactionRoutes } from './fhir/routes.js';
import { operationRoutes } from './operations/routes.js';
import { exportRoutes, BULK_CAPABILITIES, BULK_DATA_SERVER } from './operations/export-routes.js';
import { importRoutes } from './operations/import-route.js';
import { registerExportJobs } from './jobs/export.js';
import { clinicRoutes } from './clinic/routes.js';
import { createMllpListener, type MllpListener } from './v2/listener.js';
import { TERMINOLOGY_CAPABILITIES } from './operations/terminology.js';
import { Registry } from './subscriptions/registry.js';
import { subscriptionHook } from './subscriptions/hook.js';
import { DELIVERY_DEFAULTS, DeliveryWorker } from './subscriptions/worker.js';
import { SocketDelivery } from './subscriptions/socket-delivery.js';
import { BindingTokens } from './subscriptions/binding-tokens.js';
import { subscriptionRoutes } from './subscriptions/routes.js';
import { WebSocketHub } from './subscriptions/websocket.js';
import { WEBSOCKET_DEFAULTS, WebSocketServer, isWebSocketUpgrade, serveIgnoringUpgrade } from './http/websocket.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { JobRunner } from './jobs/runner.js';
import { reindexWorker } from './jobs/reindex.js';
import { watchSearchParameters } from './jobs/param-sync.js';
import { REINDEX_KIND } from './fhir/reindex.js';

const SMART_SERVICE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }], text: 'SMART on FHIR' };

/** Patients for the authorization server's picker, through the engine (unrestricted: the user is signed in). */
function patientLookup(ctx: FhirContext): PatientLookup {
  return async (q) => {
    const params: [string, string][] = [['_count', '50'], ['_sort', 'family']];
    if (q.trim()) params.push(['name', q.trim()]);
    const bundle = await search(ctx, { type: 'Patient', params, handling: 'lenient' });
    return bundle.entries.filter((e) => e.search?.mode === 'match' && e.resourceJson).map((e) => {
      const p = JSON.parse(e.resourceJson ?? '{}') as { id: string; birthDate?: string; name?: { text?: string; family?: string; given?: string[] }[] };
      const n = p.name?.[0];
      return { id: p.id, name: n?.text ?? [...(n?.given ?? []), n?.family ?? ''].join(' ').trim() ?? p.id, ...(p.birthDate ? { birthDate: p.birthDate } : {}) };
    });
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    authService: AuthService;
    /** The HL7 v2 MLLP listener when MLLP_PORT is set (it listens once the app is ready). */
    mllp?: MllpListener;
    /** Background jobs from the store's queue (src/jobs): register handlers before the app is ready. */
    jobRunner: JobRunner;
  }
}

export interface BuildOptions {
  /** Use this store instead of opening config.database (tests). The app closes it on close. */
  store?: (indexer: Indexer) => Store | Promise<Store>;
  definitions?: Definitions;
  /** How client JWKS URLs are fetched (tests). */
  jwksFetcher?: JwksFetcher;
  /** Write hooks of the engine; the clinic workflow's by default (the seed script loads data without them). */
  hooks?: readonly WriteHook[];
  /** This instance's name in leases and jobs (tests running several instances); random by default. */
  instanceId?: string;
  /** Use this auth registry instead of the configured one (tests). The app closes it on close. */
  registry?: () => AuthRegistry | Promise<AuthRegistry>;
  /**
   * DATABASE_URL=mongodb: use this database handle instead of connecting (tests pass the
   * in-process emulation). The FHIR store and the auth registry share it; the app closes it.
   */
  mongoDb?: MongoDb;
}

/** The lease under which one instance rotates the signing key (held a minute: a rotation takes a second). */
const KEY_ROTATION_LEASE = 'auth:signing-key-rotation';
const KEY_ROTATION_LEASE_MS = 60_000;

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

/**
 * The engine for a configuration, wired in the one order that works: definitions → search
 * parameters and indexer → the store (which indexes with that indexer) → the engine.
 */
export async function openEngine(config: Config, opts: BuildOptions = {}): Promise<FhirContext> {
  const defs = opts.definitions ?? loadDefinitions(config.profilesDir);
  const search = searchMachinery(defs, config.baseUrl);
  const store = opts.store
    ? await opts.store(search.indexer)
    : await openStore(config.database, {
      indexer: search.indexer, readCacheBytes: config.readCacheBytes, synchronous: config.sqliteSynchronous, searchTimeoutMs: config.searchTimeoutMs, readers: config.sqliteReaders,
    }, opts.mongoDb);
  try {
    return await createEngine({
      defs,
      baseUrl: config.baseUrl,
      search,
      store,
      paging: { defaultCount: config.defaultCount, maxCount: config.maxCount },
      integrity: config.referentialIntegrity,
      bundleEntries: config.bundleMaxEntries,
      bundleResponseBytes: config.bundleResponseLimit,
      hooks: opts.hooks ?? clinicHooks,
    });
  } catch (err) {
    await store.close();
    throw err;
  }
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  // On MongoDB one connection pool serves the FHIR store and the auth registry (the store closes it).
  const mongoDb = config.database.kind === 'mongodb' && !opts.store ? opts.mongoDb ?? await connectMongo(config.database.url) : undefined;
  // Subscriptions: the hook appends notifications inside write transactions; the worker,
  // built once the engine exists, delivers them after commit.
  const subscriptions = new Registry();
  let worker: DeliveryWorker | undefined;
  let sockets: SocketDelivery | undefined;
  const hooks = [...(opts.hooks ?? clinicHooks), subscriptionHook(subscriptions, { kick: (ready) => { worker?.kick(ready); sockets?.kick(); } })];
  const ctx = await openEngine(config, { ...opts, hooks, ...(mongoDb ? { mongoDb } : {}) });
  const { store, defs } = ctx;
  let registry: AuthRegistry;
  try {
    registry = opts.registry ? await opts.registry() : await openRegistry(config.database, config.auth.db, mongoDb);
  } catch (err) {
    await store.close();
    throw err;
  }
  // Authentication and authorization (SMART on FHIR), audit, CORS.
  const auth = new AuthService(authSettings(config), registry, opts.jwksFetcher);
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
    // Errors before any route runs are OperationOutcomes too (src/http/edge.ts); a request must
    // arrive whole within a minute (else 408), which also bounds slow bodies.
    frameworkErrors: frameworkErrorHandler((e) => auth.store.audit(e)),
    // Node's own refusals are audited too (no request object exists for them).
    clientErrorHandler: clientErrorHandler((e) => auth.store.audit(e)),
    requestTimeout: 60_000,
    // Requests start in fair turns between clients (src/http/fair.ts): a busy client's burst
    // does not queue ahead of a quiet client's request.
    serverFactory: (handler, options) => fairServer(handler, options),
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
    log.request(req.id, req.method, routeOf(req), reply.statusCode, Math.round(reply.elapsedTime * 10) / 10);
    done();
  });
  app.addHook('onClose', async () => {
    // The auth registry first: its last audit batch may go to the store's MongoDB connection.
    await auth.close();
    await store.close();
    log.flush();
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // Background work: polls the store's queue once the app is ready; stops (handing running jobs
  // back to the queue) before the store closes.
  const runner = new JobRunner({
    work: store.work, pollMs: config.jobs.pollMs, leaseMs: config.jobs.leaseMs, log: app.log,
    ...(opts.instanceId ? { instanceId: opts.instanceId } : {}),
  });
  app.decorate('jobRunner', runner);
  runner.register(REINDEX_KIND, reindexWorker(ctx));
  ctx.jobs.onQueued = () => runner.poke();
  // SearchParameters written through another instance on the same database.
  const params = watchSearchParameters(ctx, config.jobs.pollMs, (err) => app.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'search parameters: sync failed'));
  app.addHook('onReady', async () => runner.start());
  app.addHook('preClose', async () => {
    params.stop();
    await runner.close();
  });

  // The websocket channel (R4 subscription.html#2.46.7.2): RFC 6455 on this server's upgrade
  // event, at [base]/websocket; binding tokens come from Subscription/[id]/$get-ws-binding-token.
  const { wsMaxConnections, wsIdleMs, ...delivery0 } = config.subscriptions;
  const wsHub = new WebSocketHub(`${config.baseUrl.replace(/^http/, 'ws')}/websocket`, new BindingTokens(() => store.work), () => sockets?.kick());
  const wsServer = new WebSocketServer(`${config.mountPath}/websocket`, { ...WEBSOCKET_DEFAULTS, maxConnections: wsMaxConnections, idleMs: wsIdleMs }, {
    text: (peer, text) => wsHub.message(peer, text),
    closed: (peer) => wsHub.closed(peer),
  });
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (isWebSocketUpgrade(req)) wsServer.upgrade(req, socket, head);
    else serveIgnoringUpgrade(app.server, req, socket);
  });
  app.addHook('preClose', async () => wsServer.closeAll());
  worker = new DeliveryWorker(ctx, subscriptions, {
    ...delivery0,
    owner: randomUUID(),
    audit: (action, target, status) => auth.store.audit({ time: new Date().toISOString(), requestId: 'subscription-delivery', action, target, status }),
    log: (fields, msg) => log.logger.warn(fields, msg),
  });
  const delivery = worker;
  // Websocket channels: delivered by the instance each client's connection reached.
  const socketDelivery = sockets = new SocketDelivery(ctx, subscriptions, wsHub, {
    pollMs: DELIVERY_DEFAULTS.pollMs, keep: DELIVERY_DEFAULTS.keep, backlog: DELIVERY_DEFAULTS.backlog,
    stop: (id, reason) => delivery.stopWithError(id, reason),
    log: (fields, msg) => log.logger.warn(fields, msg),
  });
  app.addHook('onReady', async () => {
    await delivery.start();
    socketDelivery.start();
  });
  app.addHook('preClose', async () => {
    await socketDelivery.stop();
    await delivery.stop();
  });
  // With several instances on one database, one of them rotates the signing key.
  auth.keys.guardRotation(() => store.work.tryLease(KEY_ROTATION_LEASE, runner.instanceId, KEY_ROTATION_LEASE_MS));
  // The authorization server's services, for the CLI-free administration of a running app (tests, scripts).
  app.decorate('authService', auth);
  // Every request on every route is audited here (the FHIR plugin gets no audit option of its own).
  registerAudit(app, (e) => auth.store.audit(e));
  registerLimits(app, config.limits);
  registerCors(app, (origin) => config.auth.mode === 'off' || auth.store.originAllowed(origin));
  let guard;
  let security: CapabilityStatementRestSecurity;
  if (config.auth.mode === 'off') {
    app.log.warn('AUTH=off: every FHIR route is open to anyone who can reach this server');
    security = { cors: true, description: 'AUTHENTICATION IS OFF (AUTH=off): every interaction is open to anyone who can reach this server.' };
  } else if (config.auth.mode === 'external' && config.auth.external) {
    guard = externalGuard({ ...config.auth.external, fhirBase: config.baseUrl, mountPath: config.mountPath });
    security = { cors: true, service: [SMART_SERVICE], description: `Bearer JWTs from ${config.auth.external.issuer}` };
  } else {
    guard = smartGuard(auth, config.mountPath);
    const e = endpoints(auth);
    security = {
      cors: true,
      service: [SMART_SERVICE],
      description: 'SMART App Launch 2.x and Backend Services; see .well-known/smart-configuration',
      extension: [{
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [
          { url: 'authorize', valueUri: e.authorization_endpoint }, { url: 'token', valueUri: e.token_endpoint },
          { url: 'introspect', valueUri: e.introspection_endpoint }, { url: 'revoke', valueUri: e.revocation_endpoint },
          { url: 'manage', valueUri: e.management_endpoint },
        ],
      }],
    };
    await app.register(discoveryPlugin, { auth, mountPath: config.mountPath });
    await app.register(authPlugin, { prefix: '/auth', auth, lookupPatients: patientLookup(ctx) });
    await app.register(adminPlugin, { prefix: '/admin', auth });
  }
  // One route table for HTTP and Bundle entries: the interactions, the engine's operations, the clinic's.
  const software = {
    name: 'Flint', version: packageVersion(), security,
    // R4: where the websocket subscription channel listens.
    restExtension: [{ url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: wsHub.url }],
    operations: [...capabilityOperations(config.baseUrl), ...TERMINOLOGY_CAPABILITIES, ...BULK_CAPABILITIES],
    instantiates: [...defs.packages.flatMap((p) => p.serverCapabilities), BULK_DATA_SERVER],
  };
  const router = new Router([
    ...interactionRoutes({ software }),
    ...operationRoutes(),
    ...exportRoutes(() => runner.poke()),
    ...importRoutes(),
    ...subscriptionRoutes(wsHub),
    ...clinicRoutes(config.baseUrl, config.payer ? httpPayerClient(config.payer.url, config.payer.token) : undefined),
  ]);
  await app.register(fhirPlugin, {
    prefix: config.mountPath, ctx, router,
    ...(guard ? { guard } : {}),
  });
  // Bulk Data export jobs run in the background of every instance (they resume after a restart).
  const exports = registerExportJobs(runner, ctx, config.export, (err) => app.log.error({ err: err instanceof Error ? err.message : String(err) }, 'export: sweeping expired jobs failed'));
  app.addHook('preClose', async () => exports.stop());
  if (config.mountPath !== '') app.get('/', async (_req, reply) => reply.redirect(`${config.mountPath}/metadata`));
  if (config.mllp) {
    // HL7 v2 over MLLP: a sibling way in, on the same engine with a system context (no access policy).
    const mllp = createMllpListener(ctx, router, config.mllp, log.logger);
    app.decorate('mllp', mllp);
    app.addHook('onReady', async () => { await mllp.listen(); });
    app.addHook('preClose', async () => mllp.close());
  }
  return app;
}
