// Search: GET /:type, POST /:type/_search, system search on /, compartment search
// /Patient/:id/:type (R4 http.html#search).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { search } from '../../fhir/interactions/search.js';
import { serializeBundle } from '../../fhir/bundle.js';
import { FhirError } from '../../fhir/errors.js';
import { parsePrefer } from '../headers.js';
import { contentTypeOf, sendJson } from '../negotiation.js';

/** The query string as ordered [name, value] pairs (repeats kept: repeated = AND). */
export function queryPairs(req: FastifyRequest): [string, string][] {
  const at = req.url.indexOf('?');
  return at < 0 ? [] : [...new URLSearchParams(req.url.slice(at + 1)).entries()];
}

/** POST _search: parameters in an x-www-form-urlencoded body, plus any in the URL. */
function formPairs(req: FastifyRequest): [string, string][] {
  const ct = contentTypeOf(req);
  if (req.body === undefined || req.body === null || ct === '') return queryPairs(req);
  if (!(req.body instanceof URLSearchParams)) {
    throw new FhirError(415, 'POST _search takes application/x-www-form-urlencoded parameters', 'not-supported');
  }
  return [...queryPairs(req), ...req.body.entries()];
}

function handling(req: FastifyRequest): 'strict' | 'lenient' {
  return parsePrefer(req.headers.prefer).handling ?? 'lenient';
}

export function searchRoutes(app: FastifyInstance, ctx: FhirContext): void {
  app.get<{ Params: { type: string } }>('/:type', async (req, reply) => {
    const bundle = await search(req.ctx, { type: req.params.type, params: queryPairs(req), handling: handling(req) });
    return sendJson(req, reply, serializeBundle(bundle));
  });
  app.post<{ Params: { type: string } }>('/:type/_search', async (req, reply) => {
    const bundle = await search(req.ctx, { type: req.params.type, params: formPairs(req), handling: handling(req) });
    return sendJson(req, reply, serializeBundle(bundle));
  });
  app.get('/', async (req, reply) => {
    const bundle = await search(req.ctx, { params: queryPairs(req), handling: handling(req) });
    return sendJson(req, reply, serializeBundle(bundle));
  });
  app.post('/_search', async (req, reply) => {
    const bundle = await search(req.ctx, { params: formPairs(req), handling: handling(req) });
    return sendJson(req, reply, serializeBundle(bundle));
  });
  app.get<{ Params: { ctype: string; cid: string; type: string } }>('/:ctype/:cid/:type', async (req, reply) => {
    const { ctype, cid, type } = req.params;
    if (!req.ctx.defs.isResourceType(ctype)) throw new FhirError(404, `Unknown resource type "${ctype.slice(0, 60)}"`, 'not-found');
    const bundle = type === '*'
      ? await search(req.ctx, { params: queryPairs(req), handling: handling(req), compartment: { type: ctype, id: cid } })
      : await search(req.ctx, { type, params: queryPairs(req), handling: handling(req), compartment: { type: ctype, id: cid } });
    return sendJson(req, reply, serializeBundle(bundle));
  });
}
