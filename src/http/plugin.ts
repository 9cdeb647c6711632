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
import { clinicRoutes } from './routes/clinic.js';
import { terminologyRoutes } from './routes/terminology.js';
import type { PayerClient } from '../operations/payer.js';
import { metadataRoutes } from './routes/metadata.js';
import { trackMethods } from './routes/methods.js';

export interface FhirPluginOptions {
  ctx: FhirContext;
  software: SoftwareInfo;
  /** Authenticates the caller and sets `req.access` (src/auth/guard.ts); absent with AUTH=off. */
  guard?: onRequestHookHandler;
  /** Receives one entry per request (src/auth/store.ts keeps the append-only audit log). */
  audit?: (entry: AuditEntry) => void;
  /** Where Claim/$submit-to-payer sends claims (from PAYER_URL); absent when none is configured. */
  payer?: PayerClient;
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
      // Hot path (every request): plain assignments, no spreads.
      const params = (req.params ?? {}) as Record<string, string | undefined>;
      const entry: AuditEntry = { time: new Date().toISOString(), requestId: String(req.id), action: `${req.method} ${req.routeOptions.url ?? 'unmatched'}`, status: reply.statusCode };
      const caller = req.caller;
      if (caller) {
        if (caller.clientId) entry.clientId = caller.clientId;
        if (caller.user) entry.user = caller.user;
        if (caller.patient) entry.patient = caller.patient;
      }
      const type = params.type ?? params.ctype;
      if (type) {
        const id = params.id ?? params.cid;
        entry.target = id ? `${type}/${id}` : type;
      }
      const at = req.url.indexOf('?');
      if (at >= 0) entry.query = req.url.slice(at + 1, at + 2001);
      audit(entry);
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
  clinicRoutes(app, ctx, opts.payer);
  terminologyRoutes(app, ctx);
  methods.finish();
};
