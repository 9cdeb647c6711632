// POST / (batch and transaction Bundles) and the conditional interactions on a type URL:
// PUT/PATCH/DELETE /:type?criteria.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { processBundle } from '../../fhir/interactions/bundle.js';
import { conditionalDelete, conditionalPatch, conditionalUpdate } from '../../fhir/interactions/conditional.js';
import { serializeBundle } from '../../fhir/bundle.js';
import { badRequest, FhirError } from '../../fhir/errors.js';
import { issue } from '../../fhir-basics/outcome.js';
import { httpDate, parseETag, parsePrefer } from '../headers.js';
import { contentTypeOf, isJsonBody, JSON_PATCH, sendJson } from '../negotiation.js';
import { sendOutcome } from '../outcome.js';
import { sendWritten } from './resource.js';

function criteriaOf(req: FastifyRequest): string {
  const at = req.url.indexOf('?');
  const criteria = at < 0 ? '' : req.url.slice(at + 1);
  // _format / _pretty shape the answer; they are not criteria.
  const kept = [...new URLSearchParams(criteria).entries()].filter(([k]) => k !== '_format' && k !== '_pretty');
  if (kept.length === 0) throw badRequest(`${req.method} on a type needs search criteria (${req.method} /Type?identifier=…)`);
  return new URLSearchParams(kept).toString();
}

export function bundleRoutes(app: FastifyInstance, ctx: FhirContext): void {
  app.post('/', async (req, reply) => {
    if (!isJsonBody(req)) throw new FhirError(415, 'A batch or transaction Bundle is sent as application/fhir+json', 'not-supported');
    const prefer = parsePrefer(req.headers.prefer).return ?? 'representation';
    const bundle = await processBundle(req.ctx, req.body, prefer);
    return sendJson(req, reply, serializeBundle(bundle));
  });

  app.put<{ Params: { type: string } }>('/:type', async (req, reply) => {
    if (!isJsonBody(req)) throw new FhirError(415, 'update takes a FHIR resource as application/fhir+json', 'not-supported');
    const ifMatch = parseETag(req.headers['if-match'], 'If-Match');
    const { record, created } = await conditionalUpdate(req.ctx, req.params.type, criteriaOf(req), req.body, ifMatch);
    return sendWritten(req.ctx, req, reply, record, created ? 201 : 200, `${created ? 'Created' : 'Updated'} ${record.type}/${record.id} version ${record.versionId}`);
  });

  app.patch<{ Params: { type: string } }>('/:type', async (req, reply) => {
    if (contentTypeOf(req) !== JSON_PATCH) throw new FhirError(415, `PATCH takes a JSON Patch document (Content-Type: ${JSON_PATCH})`, 'not-supported');
    const ifMatch = parseETag(req.headers['if-match'], 'If-Match');
    const record = await conditionalPatch(req.ctx, req.params.type, criteriaOf(req), req.body, ifMatch);
    return sendWritten(req.ctx, req, reply, record, 200, `Patched ${record.type}/${record.id} to version ${record.versionId}`);
  });

  app.delete<{ Params: { type: string } }>('/:type', async (req, reply) => {
    const { deleted } = await conditionalDelete(req.ctx, req.params.type, criteriaOf(req));
    if (parsePrefer(req.headers.prefer).return === 'minimal') return reply.code(204).send();
    const last = deleted[deleted.length - 1];
    if (deleted.length === 1 && last) reply.header('etag', `W/"${last.versionId}"`).header('last-modified', httpDate(last.lastUpdated));
    const message = deleted.length === 0 ? `No ${req.params.type} matched; nothing deleted`
      : `Deleted ${deleted.length} ${req.params.type}: ${deleted.slice(0, 20).map((r) => r.id).join(', ')}${deleted.length > 20 ? ', …' : ''}`;
    return sendOutcome(reply, 200, [issue(deleted.length ? 'information' : 'warning', deleted.length ? 'informational' : 'not-found', message)]);
  });
}
