// The FHIR REST API as one Fastify plugin, mounted at config.mountPath by the composition root:
// parsers, format negotiation, the guard, audit, and the engine's route table (src/http/routes.ts).
import type { FastifyInstance, FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import type { AccessPolicy } from '../fhir/access.js';
import type { FhirContext } from '../fhir/context.js';
import type { Router } from '../fhir/router.js';
import { registerParsers, responseFormat } from './negotiation.js';
import { registerRoutes } from './routes.js';
import { trackMethods } from './routes/methods.js';
import { clientKey } from './limits.js';

export interface FhirPluginOptions {
  ctx: FhirContext;
  /** The engine's route table (interactions and operations), shared with Bundle entries. */
  router: Router;
  /** Authenticates the caller and sets `req.access` (src/auth/guard.ts); absent with AUTH=off. */
  guard?: onRequestHookHandler;
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
  // The caller's policy (set by the auth guard, when auth is on) and the client it counts as
  // (its lane in the reader threads' queue, as in the per-client limits) travel with the context.
  // One context per (policy, lane): the guard hands out the same policy object for a token while
  // it trusts its cache (src/auth/guard.ts), so a read does not copy the context each time.
  if (opts.guard) app.addHook('onRequest', opts.guard);
  const withAccess = new WeakMap<AccessPolicy, Map<string, FhirContext>>();
  const open = new Map<string, FhirContext>();
  app.addHook('preHandler', (req, _reply, done) => {
    const lane = clientKey(req);
    const access = req.access;
    let byLane = access ? withAccess.get(access) : open;
    if (!byLane) {
      byLane = new Map();
      withAccess.set(access!, byLane);
    }
    let c = byLane.get(lane);
    if (!c) {
      // Bounded: addresses without a token are many; start over rather than grow.
      if (byLane.size >= 4096) byLane.clear();
      c = access ? { ...ctx, access, lane } : { ...ctx, lane };
      byLane.set(lane, c);
    }
    req.ctx = c;
    done();
  });
  app.decorateRequest('caller', null as never);
  const methods = trackMethods(app);
  registerRoutes(app, opts.router);
  methods.finish();
};
