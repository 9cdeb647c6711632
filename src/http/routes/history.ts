// History at system, type and instance level.
import type { FastifyInstance } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { history } from '../../fhir/interactions/history.js';
import { serializeBundle } from '../../fhir/bundle.js';
import type { QueryParams } from '../../fhir/params.js';
import { sendJson } from '../negotiation.js';

export function historyRoutes(app: FastifyInstance, ctx: FhirContext): void {
  app.get('/_history', async (req, reply) => {
    return sendJson(req, reply, serializeBundle(await history(req.ctx, { params: req.query as QueryParams })));
  });
  app.get<{ Params: { type: string } }>('/:type/_history', async (req, reply) => {
    const bundle = await history(req.ctx, { type: req.params.type, params: req.query as QueryParams });
    return sendJson(req, reply, serializeBundle(bundle));
  });
  app.get<{ Params: { type: string; id: string } }>('/:type/:id/_history', async (req, reply) => {
    const bundle = await history(req.ctx, { type: req.params.type, id: req.params.id, params: req.query as QueryParams });
    return sendJson(req, reply, serializeBundle(bundle));
  });
}
