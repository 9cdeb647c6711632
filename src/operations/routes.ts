// The routes of the engine's operations ($everything, $validate, terminology) for the route table
// (src/fhir/router.ts): the same entries serve HTTP and batch/transaction Bundle entries.
import type { FhirRequest, Route } from '../fhir/request.js';
import { badRequest, FhirError } from '../fhir/errors.js';
import { serializeBundle } from '../fhir/bundle.js';
import { isObject } from '../fhir-basics/json.js';
import { valuesOf, type QueryPairs } from '../fhir-basics/query.js';
import { everything } from './everything.js';
import { validateOperation } from './validate.js';
import { TERMINOLOGY_OPERATIONS, terminologyOperation, type TerminologyType } from './terminology.js';

/** Operation parameters: the query string, plus a Parameters body on POST (R4 operations.html#request). */
function everythingParams(req: FhirRequest): QueryPairs {
  const pairs: QueryPairs = [...req.query];
  const body = req.body;
  if (body === undefined || body === null || req.method !== 'POST') return pairs;
  if (!isObject(body) || body.resourceType !== 'Parameters') throw new FhirError(400, 'POST $everything takes a Parameters resource (or none)', 'invalid');
  for (const p of Array.isArray(body.parameter) ? body.parameter : []) {
    if (!isObject(p) || typeof p.name !== 'string') continue;
    const v = p.valueString ?? p.valueDate ?? p.valueInstant ?? p.valueCode ?? (p.valueInteger !== undefined ? String(p.valueInteger) : undefined);
    if (typeof v === 'string') pairs.push([p.name === 'since' ? '_since' : p.name, v]);
  }
  return pairs;
}

function single(req: FhirRequest, name: string): string | undefined {
  const v = valuesOf(req.query, name);
  if (v.length > 1) throw badRequest(`${name} may be given only once`);
  return v[0];
}

export function operationRoutes(): Route[] {
  const routes: Route[] = [];
  // $everything on Patient and Encounter, instance and type level, GET or POST.
  for (const type of ['Patient', 'Encounter'] as const) {
    for (const method of ['GET', 'POST'] as const) {
      for (const withId of [true, false]) {
        routes.push({
          method, path: withId ? `/${type}/:id/$everything` : `/${type}/$everything`, body: 'optional-json',
          handler: async (ctx, req) => {
            const id = withId ? req.params.id : undefined;
            const bundle = await everything(ctx, { type, ...(id !== undefined ? { id } : {}), params: everythingParams(req) });
            return { status: 200, json: serializeBundle(bundle) };
          },
        });
      }
    }
  }
  // $validate (R4 resource-operation-validate.html): POST /[type]/$validate, GET or POST /[type]/[id]/$validate.
  for (const [method, path] of [['POST', '/:type/$validate'], ['GET', '/:type/:id/$validate'], ['POST', '/:type/:id/$validate']] as const) {
    routes.push({
      method, path, body: 'optional-json',
      handler: async (ctx, req) => {
        const mode = single(req, 'mode');
        const profile = single(req, 'profile');
        const issues = await validateOperation(ctx, {
          type: req.params.type ?? '',
          ...(req.params.id !== undefined ? { id: req.params.id } : {}),
          ...(req.method === 'POST' && req.body !== undefined ? { body: req.body } : {}),
          ...(mode !== undefined ? { mode } : {}),
          ...(profile !== undefined ? { profile } : {}),
        });
        return { status: 200, issues };
      },
    });
  }
  // Terminology (src/terminology): CodeSystem $lookup/$validate-code/$subsumes, ValueSet $expand/
  // $validate-code, ConceptMap $translate; GET or POST (Parameters), type and instance level.
  for (const [type, ops] of Object.entries(TERMINOLOGY_OPERATIONS) as [TerminologyType, readonly string[]][]) {
    for (const op of ops) {
      for (const method of ['GET', 'POST'] as const) {
        for (const path of [`/${type}/$${op}`, `/${type}/:id/$${op}`]) {
          routes.push({
            method, path, body: 'optional-json',
            handler: async (ctx, req) => {
              const result = await terminologyOperation(ctx, {
                type, operation: op, query: req.query,
                ...(req.params.id !== undefined ? { id: req.params.id } : {}),
                ...(req.method === 'POST' && req.body !== undefined ? { body: req.body } : {}),
              });
              return { status: 200, json: JSON.stringify(result) };
            },
          });
        }
      }
    }
  }
  return routes;
}
