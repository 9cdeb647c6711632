// $everything on Patient and Encounter, instance and type level, GET or POST.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { everything } from '../../operations/everything.js';
import { serializeBundle } from '../../fhir/bundle.js';
import { FhirError } from '../../fhir/errors.js';
import { sendJson } from '../negotiation.js';
import { queryPairs } from './search.js';

/** Operation parameters: the query string, plus a Parameters body on POST. */
function operationParams(req: FastifyRequest): [string, string][] {
  const pairs = queryPairs(req);
  const body = req.body as { resourceType?: string; parameter?: { name: string; valueString?: string; valueDate?: string; valueInstant?: string; valueInteger?: number; valueCode?: string }[] } | undefined;
  if (body && req.method === 'POST') {
    if (body.resourceType !== 'Parameters') throw new FhirError(400, 'POST $everything takes a Parameters resource (or none)', 'invalid');
    for (const p of body.parameter ?? []) {
      const v = p.valueString ?? p.valueDate ?? p.valueInstant ?? p.valueCode ?? (p.valueInteger !== undefined ? String(p.valueInteger) : undefined);
      if (v !== undefined) pairs.push([p.name === 'since' ? '_since' : p.name, v]);
    }
  }
  return pairs;
}

export function everythingRoutes(app: FastifyInstance, ctx: FhirContext): void {
  for (const type of ['Patient', 'Encounter'] as const) {
    const handler = (withId: boolean) => async (req: FastifyRequest<{ Params: { id?: string } }>, reply: import('fastify').FastifyReply) => {
      const bundle = await everything(req.ctx, { type, ...(withId && req.params.id ? { id: req.params.id } : {}), params: operationParams(req) });
      return sendJson(req, reply, serializeBundle(bundle));
    };
    app.get(`/${type}/:id/$everything`, handler(true));
    app.post(`/${type}/:id/$everything`, handler(true));
    app.get(`/${type}/$everything`, handler(false));
    app.post(`/${type}/$everything`, handler(false));
  }
}
