// The route table of the FHIR interactions (R4 http.html): method + path → the interaction
// function. The same table serves HTTP (src/http/routes.ts registers it with Fastify) and the
// entries of batch/transaction Bundles (src/fhir/interactions/bundle.ts dispatches through it).
import type { VersionRecord } from '../store/port.js';
import type { FhirContext } from './context.js';
import type { FhirRequest, FhirResponse, Route } from './request.js';
import { badRequest, FhirError } from './errors.js';
import { create, remove, update } from './interactions/write.js';
import { read, vread } from './interactions/read.js';
import { patch } from './interactions/patch.js';
import { search, type SearchInput } from './interactions/search.js';
import { history } from './interactions/history.js';
import { conditionalCreate, conditionalDelete, conditionalPatch, conditionalUpdate } from './interactions/conditional.js';
import { capabilities, type SoftwareInfo } from './interactions/capabilities.js';
import { serializeBundle } from './bundle.js';
import { requireAdmin } from './access.js';
import { reindexParameters } from './reindex.js';
import { issue } from '../fhir-basics/outcome.js';
import { etagOf, etagVersion } from '../fhir-basics/etag.js';
import { parsePrefer } from '../fhir-basics/prefer.js';
import { FORMAT_PARAMS, queryString, valuesOf } from '../fhir-basics/query.js';

/** If-Match as a version (R4 http.html#concurrency); 400 when it is not an ETag. */
export function ifMatchOf(req: FhirRequest): string | undefined {
  if (req.ifMatch === undefined || req.ifMatch === '') return undefined;
  const v = etagVersion(req.ifMatch);
  if (v === undefined) throw badRequest(`If-Match must be an ETag such as W/"3", got "${req.ifMatch.slice(0, 80)}"`);
  return v;
}

/** The search criteria of a conditional interaction on a type URL (`_format`/`_pretty` are not criteria). */
function criteriaOf(req: FhirRequest): string {
  const kept = req.query.filter(([k]) => !FORMAT_PARAMS.has(k));
  if (kept.length === 0) throw badRequest(`${req.method} on a type needs search criteria (${req.method} /Type?identifier=…)`);
  return queryString(kept);
}

const param = (req: FhirRequest, name: string): string => req.params[name] ?? '';

function written(record: VersionRecord, status: number, message: string): FhirResponse {
  return { status, record, issues: [issue('information', 'informational', message)], write: true };
}

/** True when the resource has not changed since the If-Modified-Since date (1 s resolution). */
function notModifiedSince(lastUpdated: string, header: string | undefined): boolean {
  if (!header) return false;
  const since = Date.parse(header);
  if (Number.isNaN(since)) return false;
  return Math.floor(Date.parse(lastUpdated) / 1000) * 1000 <= since;
}

/** A read's answer: 304 when If-None-Match or If-Modified-Since says the client has it (R4 http.html#cread). */
function readAnswer(req: FhirRequest, r: VersionRecord): FhirResponse {
  const inm = req.ifNoneMatch;
  if (inm !== undefined) {
    const tags = inm.split(',').map((t) => t.trim());
    if (tags.includes('*') || tags.includes(etagOf(r.versionId)) || tags.includes(`"${r.versionId}"`)) return { status: 304, record: r };
  } else if (notModifiedSince(r.lastUpdated, req.ifModifiedSince)) {
    return { status: 304, record: r };
  }
  return { status: 200, record: r, ...(r.json !== undefined ? { json: r.json } : {}) };
}

function handling(req: FhirRequest): 'strict' | 'lenient' {
  return parsePrefer(req.prefer).handling ?? 'lenient';
}

async function searchAnswer(ctx: FhirContext, input: SearchInput): Promise<FhirResponse> {
  return { status: 200, json: serializeBundle(await search(ctx, input)) };
}

async function deleted(record: VersionRecord | undefined, message: string, found: boolean): Promise<FhirResponse> {
  // R4 http.html#delete: deleting what is already gone or never existed is not an error.
  return { status: 204, ...(record ? { record } : {}), issues: [issue(found ? 'information' : 'warning', found ? 'informational' : 'not-found', message)], write: true };
}

export interface CoreRouteOptions {
  software: SoftwareInfo;
}

export function interactionRoutes(opts: CoreRouteOptions): Route[] {
  let capabilityJson: string | undefined;
  return [
    {
      method: 'GET', path: '/metadata', body: 'none',
      handler: async (ctx) => ({ status: 200, json: (capabilityJson ??= JSON.stringify(capabilities(ctx, opts.software))) }),
    },
    // Instance level.
    { method: 'GET', path: '/:type/:id', body: 'none', handler: async (ctx, req) => readAnswer(req, await read(ctx, param(req, 'type'), param(req, 'id'))) },
    {
      method: 'GET', path: '/:type/:id/_history/:vid', body: 'none',
      handler: async (ctx, req) => readAnswer(req, await vread(ctx, param(req, 'type'), param(req, 'id'), param(req, 'vid'))),
    },
    {
      method: 'PUT', path: '/:type/:id', body: 'resource',
      handler: async (ctx, req) => {
        const ifMatch = ifMatchOf(req);
        const { record, created } = await update(ctx, { type: param(req, 'type'), id: param(req, 'id'), body: req.body, ...(ifMatch !== undefined ? { ifMatch } : {}) });
        return written(record, created ? 201 : 200, `${created ? 'Created' : 'Updated'} ${record.type}/${record.id} version ${record.versionId}`);
      },
    },
    {
      method: 'PATCH', path: '/:type/:id', body: 'patch',
      handler: async (ctx, req) => {
        const ifMatch = ifMatchOf(req);
        const r = await patch(ctx, { type: param(req, 'type'), id: param(req, 'id'), body: req.body, ...(ifMatch !== undefined ? { ifMatch } : {}) });
        return written(r, 200, `Patched ${r.type}/${r.id} to version ${r.versionId}`);
      },
    },
    {
      method: 'DELETE', path: '/:type/:id', body: 'none',
      handler: async (ctx, req) => {
        const type = param(req, 'type');
        const id = param(req, 'id');
        const result = await remove(ctx, type, id, ifMatchOf(req));
        const name = `${type}/${id}`;
        const message = result.status === 'deleted' ? `Deleted ${name}`
          : result.status === 'already-deleted' ? `${name} was already deleted` : `${name} does not exist; nothing to delete`;
        return deleted(result.record, message, result.status !== 'missing');
      },
    },
    // Type level.
    {
      method: 'POST', path: '/:type', body: 'resource',
      handler: async (ctx, req) => {
        const type = param(req, 'type');
        if (req.ifNoneExist !== undefined) {
          // R4 http.html#ccreate: one match answers 200 with it and creates nothing.
          const { record, created } = await conditionalCreate(ctx, type, req.body, req.ifNoneExist, req.assignedId);
          return created
            ? written(record, 201, `Created ${record.type}/${record.id} version ${record.versionId}`)
            : written(record, 200, `${record.type}/${record.id} matches If-None-Exist; nothing created`);
        }
        const r = await create(ctx, type, req.body, req.assignedId);
        return written(r, 201, `Created ${r.type}/${r.id} version ${r.versionId}`);
      },
    },
    {
      method: 'PUT', path: '/:type', body: 'resource',
      handler: async (ctx, req) => {
        const { record, created } = await conditionalUpdate(ctx, param(req, 'type'), criteriaOf(req), req.body, ifMatchOf(req), req.assignedId);
        return written(record, created ? 201 : 200, `${created ? 'Created' : 'Updated'} ${record.type}/${record.id} version ${record.versionId}`);
      },
    },
    {
      method: 'PATCH', path: '/:type', body: 'patch',
      handler: async (ctx, req) => {
        const record = await conditionalPatch(ctx, param(req, 'type'), criteriaOf(req), req.body, ifMatchOf(req));
        return written(record, 200, `Patched ${record.type}/${record.id} to version ${record.versionId}`);
      },
    },
    {
      method: 'DELETE', path: '/:type', body: 'none',
      handler: async (ctx, req) => {
        const type = param(req, 'type');
        const { deleted: gone } = await conditionalDelete(ctx, type, criteriaOf(req));
        const last = gone[gone.length - 1];
        const message = gone.length === 0 ? `No ${type} matched; nothing deleted`
          : `Deleted ${gone.length} ${type}: ${gone.slice(0, 20).map((r) => r.id).join(', ')}${gone.length > 20 ? ', …' : ''}`;
        return deleted(gone.length === 1 ? last : undefined, message, gone.length > 0);
      },
    },
    // Search (R4 http.html#search): type, system, compartment; GET or POST _search.
    { method: 'GET', path: '/:type', body: 'none', handler: (ctx, req) => searchAnswer(ctx, { type: param(req, 'type'), params: req.query, handling: handling(req) }) },
    { method: 'POST', path: '/:type/_search', body: 'form', handler: (ctx, req) => searchAnswer(ctx, { type: param(req, 'type'), params: req.query, handling: handling(req) }) },
    { method: 'GET', path: '/', body: 'none', handler: (ctx, req) => searchAnswer(ctx, { params: req.query, handling: handling(req) }) },
    { method: 'POST', path: '/_search', body: 'form', handler: (ctx, req) => searchAnswer(ctx, { params: req.query, handling: handling(req) }) },
    {
      method: 'GET', path: '/:ctype/:cid/:type', body: 'none',
      handler: (ctx, req) => {
        const ctype = param(req, 'ctype');
        const type = param(req, 'type');
        if (!ctx.defs.isResourceType(ctype)) throw new FhirError(404, `Unknown resource type "${ctype.slice(0, 60)}"`, 'not-found');
        return searchAnswer(ctx, { ...(type === '*' ? {} : { type }), params: req.query, handling: handling(req), compartment: { type: ctype, id: param(req, 'cid') } });
      },
    },
    // History (R4 http.html#history).
    { method: 'GET', path: '/_history', body: 'none', handler: async (ctx, req) => ({ status: 200, json: serializeBundle(await history(ctx, { params: req.query })) }) },
    {
      method: 'GET', path: '/:type/_history', body: 'none',
      handler: async (ctx, req) => ({ status: 200, json: serializeBundle(await history(ctx, { type: param(req, 'type'), params: req.query })) }),
    },
    {
      method: 'GET', path: '/:type/:id/_history', body: 'none',
      handler: async (ctx, req) => ({ status: 200, json: serializeBundle(await history(ctx, { type: param(req, 'type'), id: param(req, 'id'), params: req.query })) }),
    },
    // $reindex: start a reindex (POST) and read the progress of reindex jobs (GET).
    {
      method: 'GET', path: '/$reindex', body: 'none',
      handler: async (ctx, req) => {
        requireAdmin(ctx, 'reading reindex jobs');
        const [id] = valuesOf(req.query, 'job');
        if (id !== undefined) {
          const job = await ctx.jobs.get(id);
          if (!job) throw new FhirError(404, `No reindex job ${id.slice(0, 60)}`, 'not-found');
          return { status: 200, json: JSON.stringify(reindexParameters([job])) };
        }
        return { status: 200, json: JSON.stringify(reindexParameters(await ctx.jobs.list())) };
      },
    },
    {
      method: 'POST', path: '/$reindex', body: 'none',
      handler: async (ctx, req) => {
        requireAdmin(ctx, 'starting a reindex');
        const [raw] = valuesOf(req.query, '_type');
        const types = raw ? raw.split(',').map((t) => t.trim()).filter(Boolean) : undefined;
        for (const t of types ?? []) if (!ctx.defs.isResourceType(t)) throw new FhirError(400, `Unknown resource type "${t.slice(0, 60)}"`, 'invalid');
        const job = await ctx.jobs.start(types, 'requested through $reindex');
        return { status: 202, json: JSON.stringify(reindexParameters([job])), headers: { 'content-location': `${ctx.baseUrl}/$reindex?job=${job.id}` } };
      },
    },
  ];
}
