// POST [base]/$import: bulk load through the engine (README: Bulk Data, import). The body is
// NDJSON (Content-Type: application/fhir+ndjson; one resource per line, as $export writes it),
// or a Parameters resource whose `ndjson` parts carry NDJSON text (valueString) and whose
// `resource` parts carry resources. Bounded by BODY_LIMIT. Each resource is validated on its own
// and the accepted ones written in batches (src/operations/import.ts): the answer is an OperationOutcome with what loaded per type and each refusal
// (line and reason; the first 100), 200 when every resource loaded, 422 when some were refused.
import type { FhirContext } from '../fhir/context.js';
import type { FhirResponse, Route } from '../fhir/request.js';
import { badRequest } from '../fhir/errors.js';
import { isObject } from '../fhir-basics/json.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { importItems, ndjsonLines, type ImportItem } from './import.js';

const MAX_REPORTED = 100;

function* itemsOf(body: unknown): Iterable<ImportItem> {
  if (typeof body === 'string') {
    yield* ndjsonLines(body);
    return;
  }
  if (!isObject(body) || body.resourceType !== 'Parameters') throw badRequest('$import takes NDJSON (application/fhir+ndjson) or a Parameters resource');
  let n = 0;
  for (const p of Array.isArray(body.parameter) ? body.parameter : []) {
    if (!isObject(p)) continue;
    if (p.name === 'ndjson' && typeof p.valueString === 'string') {
      for (const item of ndjsonLines(p.valueString)) yield { line: ++n, resource: item.resource };
    } else if (p.name === 'resource' && p.resource !== undefined) {
      yield { line: ++n, resource: p.resource };
    } else throw badRequest('$import Parameters take `ndjson` (valueString) and `resource` parts only');
  }
}

export async function importOperation(ctx: FhirContext, body: unknown): Promise<FhirResponse> {
  if (body === undefined || body === null || body === '') throw badRequest('$import needs a body: NDJSON or Parameters');
  const refusals: Issue[] = [];
  const summary = await importItems(ctx, itemsOf(body), {
    onRefused: (r) => {
      if (refusals.length < MAX_REPORTED) refusals.push(issue('error', 'processing', `line ${r.line}${r.type ? ` (${r.type}${r.id ? `/${r.id}` : ''})` : ''}: ${r.reason}`));
    },
  });
  const loaded = Object.values(summary.loaded).reduce((a, b) => a + b, 0);
  if (loaded === 0 && summary.refused === 0) throw badRequest('$import: the body holds no resources');
  const perType = Object.entries(summary.loaded).sort().map(([t, n]) => `${t}: ${n}`).join(', ');
  const issues = [
    issue('information', 'informational', `Loaded ${loaded} resources${perType ? ` (${perType})` : ''}; refused ${summary.refused}`),
    ...refusals,
    ...(summary.refused > MAX_REPORTED ? [issue('warning', 'too-costly', `${summary.refused - MAX_REPORTED} more refusals not listed`)] : []),
  ];
  return { status: summary.refused > 0 ? 422 : 200, issues };
}

export function importRoutes(): Route[] {
  return [{ method: 'POST', path: '/$import', body: 'ndjson', inBundle: false, handler: async (ctx, req) => importOperation(ctx, req.body) }];
}
