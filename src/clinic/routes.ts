// The clinic workflow's operations (src/clinic: charge, bill, submit, submit-to-payer,
// practice-report) and the OperationDefinitions that describe them, as route-table entries
// (src/fhir/request.ts): the composition root adds them to the table HTTP and Bundles share.
import type { Route } from '../fhir/request.js';
import { chargeOperation } from './charges.js';
import { billOperation } from './billing.js';
import { submitClaim } from './claim-submit.js';
import { submitToPayer, type PayerClient } from './payers.js';
import { practiceReport } from './reports.js';
import { operationDefinitions } from './definitions.js';

const ok = (resource: unknown) => ({ status: 200, json: JSON.stringify(resource) });

export function clinicRoutes(baseUrl: string, payer?: PayerClient): Route[] {
  const routes: Route[] = [];
  // Static paths: they take precedence over GET /:type/:id for these ids only.
  for (const def of operationDefinitions(baseUrl)) {
    const json = JSON.stringify(def);
    routes.push({ method: 'GET', path: `/OperationDefinition/${def.id ?? ''}`, body: 'none', handler: async () => ({ status: 200, json }) });
  }
  routes.push(
    { method: 'POST', path: '/Encounter/:id/$charge', body: 'none', handler: async (ctx, req) => ok(await chargeOperation(ctx, req.params.id ?? '')) },
    { method: 'POST', path: '/Encounter/:id/$bill', body: 'none', handler: async (ctx, req) => ok(await billOperation(ctx, req.params.id ?? '')) },
    {
      method: 'POST', path: '/Claim/$submit', body: 'resource',
      handler: async (ctx, req) => {
        const { response, created } = await submitClaim(ctx, req.body);
        const location = `${ctx.baseUrl}/ClaimResponse/${response.id ?? ''}/_history/${response.meta?.versionId ?? '1'}`;
        return { ...ok(response), ...(created ? { headers: { location } } : {}) };
      },
    },
    { method: 'POST', path: '/Claim/:id/$submit-to-payer', body: 'none', handler: async (ctx, req) => ok(await submitToPayer(ctx, req.params.id ?? '', payer)) },
    { method: 'GET', path: '/$practice-report', body: 'none', handler: async (ctx, req) => ok(await practiceReport(ctx, req.query)) },
  );
  return routes;
}
