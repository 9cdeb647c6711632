// Registers the engine's route table (src/fhir/router.ts) with Fastify: one thin adapter per
// route turns the HTTP request into a FhirRequest (plain data) and the FhirResponse into a reply
// (status, ETag, Last-Modified, Location, Prefer, content negotiation). No FHIR logic lives here.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FhirContext } from '../fhir/context.js';
import type { BodyKind, FhirRequest, FhirResponse, Method, Route } from '../fhir/request.js';
import type { Router } from '../fhir/router.js';
import { FhirError } from '../fhir/errors.js';
import { issue } from '../fhir-basics/outcome.js';
import { etagOf } from '../fhir-basics/etag.js';
import { parsePrefer } from '../fhir-basics/prefer.js';
import { parseQuery, queryOf, type QueryPairs } from '../fhir-basics/query.js';
import { httpDate } from './headers.js';
import { contentTypeOf, isJsonBody, JSON_PATCH, sendJson } from './negotiation.js';
import { sendOutcome } from './outcome.js';
import { routeOf } from './route-of.js';

/** 415 unless the body comes in a media type the route takes. */
function checkMediaType(kind: BodyKind, req: FastifyRequest): void {
  if (kind === 'none') return;
  const what = `${req.method} ${routeOf(req)}`;
  switch (kind) {
    case 'resource':
      if (contentTypeOf(req) === JSON_PATCH) throw new FhirError(415, `${what} takes a FHIR resource (application/fhir+json), not a JSON Patch; use PATCH for patches`, 'not-supported');
      if (!isJsonBody(req)) throw new FhirError(415, `${what} takes a FHIR resource as application/fhir+json or application/json`, 'not-supported');
      return;
    case 'patch':
      if (contentTypeOf(req) !== JSON_PATCH) throw new FhirError(415, `PATCH takes a JSON Patch document (Content-Type: ${JSON_PATCH}); FHIRPath Patch is not supported`, 'not-supported');
      return;
    case 'form':
      if (req.body !== undefined && req.body !== null && contentTypeOf(req) !== '' && !(req.body instanceof URLSearchParams)) {
        throw new FhirError(415, 'POST _search takes application/x-www-form-urlencoded parameters', 'not-supported');
      }
      return;
    case 'ndjson':
      if (typeof req.body !== 'string' && !isJsonBody(req)) throw new FhirError(415, `${what} takes NDJSON (application/fhir+ndjson) or a Parameters resource`, 'not-supported');
      return;
    case 'optional-json':
      if (typeof req.body === 'string') throw new FhirError(415, `${what} takes a FHIR resource (Parameters) as application/fhir+json`, 'not-supported');
      if (req.body instanceof URLSearchParams) throw new FhirError(415, `${what} takes a FHIR resource (Parameters) as application/fhir+json`, 'not-supported');
      return;
    default:
  }
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

function toRequest(route: Route, req: FastifyRequest): FhirRequest {
  const qs = queryOf(req.url);
  let query: QueryPairs = qs === '' ? [] : parseQuery(qs);
  // POST _search: the form parameters join those of the URL.
  if (route.body === 'form' && req.body instanceof URLSearchParams) query = [...query, ...req.body.entries()];
  const out: FhirRequest = { method: route.method, params: (req.params ?? {}) as Record<string, string | undefined>, query };
  if (route.body !== 'none' && route.body !== 'form' && req.body !== undefined && req.body !== null) out.body = req.body;
  const ifMatch = header(req, 'if-match');
  const ifNoneExist = header(req, 'if-none-exist');
  const ifNoneMatch = header(req, 'if-none-match');
  const ifModifiedSince = header(req, 'if-modified-since');
  if (ifMatch !== undefined) out.ifMatch = ifMatch;
  if (ifNoneExist !== undefined) out.ifNoneExist = ifNoneExist;
  if (ifNoneMatch !== undefined) out.ifNoneMatch = ifNoneMatch;
  if (ifModifiedSince !== undefined) out.ifModifiedSince = ifModifiedSince;
  const prefer = req.headers.prefer;
  if (prefer !== undefined) out.prefer = Array.isArray(prefer) ? prefer.join(',') : prefer;
  return out;
}

function send(ctx: FhirContext, req: FastifyRequest, reply: FastifyReply, res: FhirResponse): FastifyReply {
  const r = res.record;
  const headers: Record<string, string> = { ...res.headers };
  if (r) {
    headers.etag = etagOf(r.versionId);
    headers['last-modified'] = httpDate(r.lastUpdated);
    if (res.status === 201) headers.location = `${ctx.baseUrl}/${r.type}/${r.id}/_history/${r.versionId}`;
  }
  reply.headers(headers);
  if (res.status === 304) return reply.code(304).send();
  if (res.raw) {
    const { contentType, body } = res.raw;
    return reply.code(res.status).type(contentType).send(typeof body === 'string' ? body : Readable.from(body));
  }
  if (res.write) {
    // R4 http.html#ops: the client chooses what a write answers.
    const prefer = parsePrefer(req.headers.prefer).return ?? 'representation';
    if (prefer === 'minimal') return reply.code(res.status).send();
    const json = res.json ?? r?.json;
    if (prefer === 'OperationOutcome' || json === undefined) {
      // A 204 carries no body: a delete that explains itself answers 200 (R4 http.html#delete).
      return sendOutcome(reply, res.status === 204 ? 200 : res.status, res.issues ?? [issue('information', 'informational', `${res.status}`)], headers);
    }
    return sendJson(req, reply.code(res.status), json);
  }
  if (res.json !== undefined) return sendJson(req, reply.code(res.status), res.json);
  if (res.issues) return sendOutcome(reply, res.status, res.issues, headers);
  return reply.code(res.status).send();
}

/** Registers every route of `router` on `app` (inside the FHIR plugin, under the mount path). */
export function registerRoutes(app: FastifyInstance, router: Router): void {
  for (const route of router.routes) {
    app.route({
      method: route.method satisfies Method,
      url: route.path,
      handler: async (req, reply) => {
        checkMediaType(route.body, req);
        return send(req.ctx, req, reply, await route.handler(req.ctx, toRequest(route, req)));
      },
    });
  }
}
