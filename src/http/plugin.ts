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
  if (opts.guard) app.addHook('onRequest', opts.guard);
  app.addHook('preHandler', (req, _reply, done) => {
    req.ctx = req.access ? { ...ctx, access: req.access, lane: clientKey(req) } : { ...ctx, lane: clientKey(req) };
    done();
  });
  app.decorateRequest('caller', null as never);
  const methods = trackMethods(app);
  registerRoutes(app, opts.router);
  methods.finish();
};
