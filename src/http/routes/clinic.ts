// The clinic workflow's operations (src/clinic: charge, bill, submit, submit-to-payer,
// practice-report) and the OperationDefinitions that describe them.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { chargeOperation } from '../../clinic/charges.js';
import { billOperation } from '../../clinic/billing.js';
import { submitClaim } from '../../clinic/claim-submit.js';
import { submitToPayer, type PayerClient } from '../../clinic/payers.js';
import { practiceReport } from '../../clinic/reports.js';
import { queryPairs } from './search.js';
import { FhirError } from '../../fhir/errors.js';
import { operationDefinitions } from '../../clinic/definitions.js';
import { isJsonBody, sendJson } from '../negotiation.js';

type IdParams = { Params: { id: string } };

function send(req: FastifyRequest, reply: FastifyReply, resource: unknown, status = 200): FastifyReply {
  return sendJson(req, reply.code(status), JSON.stringify(resource));
}

export function clinicRoutes(app: FastifyInstance, ctx: FhirContext, payer?: PayerClient): void {
  // Static paths: they take precedence over GET /:type/:id for these ids only.
  for (const def of operationDefinitions(ctx.baseUrl)) {
    const json = JSON.stringify(def);
    app.get(`/OperationDefinition/${def.id ?? ''}`, async (req, reply) => sendJson(req, reply, json));
  }
  app.post<IdParams>('/Encounter/:id/$charge', async (req, reply) => send(req, reply, await chargeOperation(req.ctx, req.params.id)));
  app.post<IdParams>('/Encounter/:id/$bill', async (req, reply) => send(req, reply, await billOperation(req.ctx, req.params.id)));
  app.post('/Claim/$submit', async (req, reply) => {
    if (!isJsonBody(req)) throw new FhirError(415, 'Claim/$submit takes a Claim, Bundle or Parameters as application/fhir+json', 'not-supported');
    const { response, created } = await submitClaim(req.ctx, req.body);
    if (created) reply.header('location', `${req.ctx.baseUrl}/ClaimResponse/${response.id ?? ''}/_history/${response.meta?.versionId ?? '1'}`);
    return send(req, reply, response);
  });
  app.post<IdParams>('/Claim/:id/$submit-to-payer', async (req, reply) => send(req, reply, await submitToPayer(req.ctx, req.params.id, payer)));
  app.get('/$practice-report', async (req, reply) => send(req, reply, await practiceReport(req.ctx, queryPairs(req))));
}
