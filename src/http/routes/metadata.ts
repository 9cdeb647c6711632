// GET /metadata: the CapabilityStatement.
import type { FastifyInstance } from 'fastify';
import type { FhirContext } from '../../fhir/context.js';
import { capabilities, type SoftwareInfo } from '../../fhir/interactions/capabilities.js';
import { sendJson } from '../negotiation.js';

export function metadataRoutes(app: FastifyInstance, ctx: FhirContext, software: SoftwareInfo): void {
  let json: string | undefined;
  app.get('/metadata', async (req, reply) => {
    json ??= JSON.stringify(capabilities(ctx, software));
    return sendJson(req, reply, json);
  });
}
