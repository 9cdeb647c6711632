// The terminology operations over HTTP: GET and POST (Parameters), type and instance level.
// CodeSystem/$lookup, $validate-code, $subsumes; ValueSet/$expand, $validate-code; ConceptMap/$translate.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { FhirError } from '../../fhir/errors.js';
import { TERMINOLOGY_OPERATIONS, terminologyOperation, type TerminologyType } from '../../operations/terminology.js';
import { isJsonBody, sendJson } from '../negotiation.js';
import { queryPairs } from './search.js';

export function terminologyRoutes(app: FastifyInstance, _ctx: FhirContext): void {
  for (const [type, ops] of Object.entries(TERMINOLOGY_OPERATIONS) as [TerminologyType, readonly string[]][]) {
    for (const op of ops) {
      const handler = async (req: FastifyRequest<{ Params: { id?: string } }>, reply: FastifyReply) => {
        if (req.method === 'POST' && req.body !== undefined && !isJsonBody(req)) {
          throw new FhirError(415, `POST ${type}/$${op} takes a Parameters resource as application/fhir+json`, 'not-supported');
        }
        const result = await terminologyOperation(req.ctx, {
          type, operation: op, query: queryPairs(req),
          ...(req.params.id !== undefined ? { id: req.params.id } : {}),
          ...(req.method === 'POST' && req.body !== undefined ? { body: req.body } : {}),
        });
        return sendJson(req, reply, JSON.stringify(result));
      };
      app.get(`/${type}/$${op}`, handler);
      app.post(`/${type}/$${op}`, handler);
      app.get(`/${type}/:id/$${op}`, handler);
      app.post(`/${type}/:id/$${op}`, handler);
    }
  }
}
