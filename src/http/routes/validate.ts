// $validate (R4 resource-operation-validate.html): POST /[type]/$validate, and GET or POST
// /[type]/[id]/$validate. `mode` and `profile` come from the query or a Parameters body.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { validateOperation } from '../../operations/validate.js';
import { badRequest } from '../../fhir/errors.js';
import { sendOutcome } from '../outcome.js';

type Query = Record<string, string | string[] | undefined>;

function single(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw badRequest(`${name} may be given only once`);
  return v;
}

export function validateRoutes(app: FastifyInstance, _ctx: FhirContext): void {
  const handler = async (req: FastifyRequest<{ Params: { type: string; id?: string }; Querystring: Query }>, reply: FastifyReply) => {
    const mode = single(req.query, 'mode');
    const profile = single(req.query, 'profile');
    const issues = await validateOperation(req.ctx, {
      type: req.params.type,
      ...(req.params.id !== undefined ? { id: req.params.id } : {}),
      ...(req.method === 'POST' && req.body !== undefined ? { body: req.body } : {}),
      ...(mode !== undefined ? { mode } : {}),
      ...(profile !== undefined ? { profile } : {}),
    });
    return sendOutcome(reply, 200, issues);
  };
  app.post('/:type/$validate', handler);
  app.get('/:type/:id/$validate', handler);
  app.post('/:type/:id/$validate', handler);
}
