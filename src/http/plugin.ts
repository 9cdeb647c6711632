// The FHIR REST API as one Fastify plugin, mounted under /fhir by the composition root.
import type { FastifyInstance, FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import type { AccessPolicy } from '../fhir/access.js';
import type { AuditEntry } from '../auth/store.js';
import type { FhirContext } from '../fhir/context.js';
import type { SoftwareInfo } from '../fhir/interactions/capabilities.js';
import { registerParsers, responseFormat } from './negotiation.js';
import { resourceRoutes } from './routes/resource.js';
import { historyRoutes } from './routes/history.js';
import { searchRoutes } from './routes/search.js';
import { reindexRoutes } from './routes/reindex.js';
import { bundleRoutes } from './routes/bundle.js';
import { everythingRoutes } from './routes/everything.js';
import { validateRoutes } from './routes/validate.js';
import { metadataRoutes } from './routes/metadata.js';
import { trackMethods } from './routes/methods.js';

export interface FhirPluginOptions {
  ctx: FhirContext;
  software: SoftwareInfo;
  /** Authenticates the caller and sets `req.access` (src/auth/guard.ts); absent with AUTH=off. */
  guard?: onRequestHookHandler;
  /** Receives one entry per request (src/auth/store.ts keeps the append-only audit log). */
  audit?: (entry: AuditEntry) => void;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The engine context for this request (with the caller's access policy). */
    ctx: FhirContext;
    /** The caller's access policy, when authentication is on. */
    access: AccessPolicy | undefined;
  }
}

export const fhirPlugin: FastifyPluginAsync<FhirPluginOptions> = async (app: FastifyInstance, opts) => {
  const { ctx } = opts;
  registerParsers(app);
  app.decorateRequest('fhirFormat', null as never);
  app.decorateRequest('ctx', null as never);
  app.decorateRequest('access', null as never);
  app.addHook('onRequest', (req, _reply, done) => {
    try {
      req.fhirFormat = responseFormat(req);
      req.ctx = ctx;
      done();
    } catch (err) {
      done(err as Error);
    }
  });
  // The caller's policy (set by the auth guard, when auth is on) travels with the request's context.
  if (opts.guard) {
    app.addHook('onRequest', opts.guard);
    app.addHook('preHandler', (req, _reply, done) => {
      if (req.access) req.ctx = { ...ctx, access: req.access };
      done();
    });
  }
  app.decorateRequest('caller', null as never);
  if (opts.audit) {
    const audit = opts.audit;
    // Every access, allowed or refused: who, what, on what, with which outcome.
    app.addHook('onResponse', (req, reply, done) => {
      const params = (req.params ?? {}) as Record<string, string | undefined>;
      const at = req.url.indexOf('?');
      const type = params.type ?? params.ctype;
      audit({
        time: new Date().toISOString(), requestId: String(req.id), action: `${req.method} ${req.routeOptions.url ?? 'unmatched'}`,
        status: reply.statusCode,
        ...(req.caller?.clientId ? { clientId: req.caller.clientId } : {}),
        ...(req.caller?.user ? { user: req.caller.user } : {}),
        ...(req.caller?.patient ? { patient: req.caller.patient } : {}),
        ...(type ? { target: [type, params.id ?? params.cid].filter(Boolean).join('/') } : {}),
        ...(at >= 0 ? { query: req.url.slice(at + 1).slice(0, 2000) } : {}),
      });
      done();
    });
  }
  const methods = trackMethods(app);
  metadataRoutes(app, ctx, opts.software);
  historyRoutes(app, ctx);
  resourceRoutes(app, ctx);
  searchRoutes(app, ctx);
  reindexRoutes(app, ctx);
  bundleRoutes(app, ctx);
  everythingRoutes(app, ctx);
  validateRoutes(app, ctx);
  methods.finish();
};
