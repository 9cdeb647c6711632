// The FHIR REST API as one Fastify plugin, mounted under /fhir by the composition root.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { FhirContext } from '../fhir/context.js';
import type { SoftwareInfo } from '../fhir/interactions/capabilities.js';
import { registerParsers, responseFormat } from './negotiation.js';
import { resourceRoutes } from './routes/resource.js';
import { historyRoutes } from './routes/history.js';
import { searchRoutes } from './routes/search.js';
import { reindexRoutes } from './routes/reindex.js';
import { bundleRoutes } from './routes/bundle.js';
import { everythingRoutes } from './routes/everything.js';
import { metadataRoutes } from './routes/metadata.js';
import { trackMethods } from './routes/methods.js';

export interface FhirPluginOptions {
  ctx: FhirContext;
  software: SoftwareInfo;
}

export const fhirPlugin: FastifyPluginAsync<FhirPluginOptions> = async (app: FastifyInstance, opts) => {
  const { ctx } = opts;
  registerParsers(app);
  app.decorateRequest('fhirFormat', null as never);
  app.addHook('onRequest', (req, _reply, done) => {
    try {
      req.fhirFormat = responseFormat(req);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
  const methods = trackMethods(app);
  metadataRoutes(app, ctx, opts.software);
  historyRoutes(app, ctx);
  resourceRoutes(app, ctx);
  searchRoutes(app, ctx);
  reindexRoutes(app, ctx);
  bundleRoutes(app, ctx);
  everythingRoutes(app, ctx);
  methods.finish();
};
