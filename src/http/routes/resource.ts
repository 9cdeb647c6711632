// Instance and type interactions on one resource: create, read, vread, update, patch, delete.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { VersionRecord } from '../../store/port.js';
import type { FhirContext } from '../../fhir/context.js';
import { create, remove, update } from '../../fhir/interactions/write.js';
import { read, vread } from '../../fhir/interactions/read.js';
import { patch } from '../../fhir/interactions/patch.js';
import { conditionalCreate } from '../../fhir/interactions/conditional.js';
import { FhirError } from '../../fhir/errors.js';
import { issue } from '../../fhir-basics/outcome.js';
import { httpDate, notModifiedSince, parseETag, parsePrefer } from '../headers.js';
import { contentTypeOf, isJsonBody, JSON_PATCH, sendJson } from '../negotiation.js';
import { sendOutcome } from '../outcome.js';

type TypeParams = { type: string };
type InstanceParams = { type: string; id: string };
type VersionParams = { type: string; id: string; vid: string };

function versionHeaders(r: VersionRecord): Record<string, string> {
  return { etag: `W/"${r.versionId}"`, 'last-modified': httpDate(r.lastUpdated) };
}

function location(ctx: FhirContext, r: VersionRecord): string {
  return `${ctx.baseUrl}/${r.type}/${r.id}/_history/${r.versionId}`;
}

/** Answers a successful write as the client's Prefer header asks (R4 http.html#ops). */
export function sendWritten(ctx: FhirContext, req: FastifyRequest, reply: FastifyReply, r: VersionRecord, status: number, message: string): FastifyReply {
  reply.code(status).headers(versionHeaders(r));
  if (status === 201) reply.header('location', location(ctx, r));
  const prefer = parsePrefer(req.headers.prefer).return ?? 'representation';
  if (prefer === 'minimal') return reply.send();
  if (prefer === 'OperationOutcome') {
    return sendOutcome(reply, status, [issue('information', 'informational', message)], versionHeaders(r));
  }
  return sendJson(req, reply, r.json ?? '{}');
}

function sendRead(req: FastifyRequest, reply: FastifyReply, r: VersionRecord): FastifyReply {
  const headers = versionHeaders(r);
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    const tags = inm.split(',').map((t) => t.trim());
    if (tags.includes('*') || tags.includes(headers.etag ?? '') || tags.includes(`"${r.versionId}"`)) {
      return reply.code(304).headers(headers).send();
    }
  } else if (notModifiedSince(r.lastUpdated, req.headers['if-modified-since'])) {
    return reply.code(304).headers(headers).send();
  }
  reply.headers(headers);
  return sendJson(req, reply, r.json ?? '{}');
}

function requireJsonBody(req: FastifyRequest, what: string): void {
  if (contentTypeOf(req) === JSON_PATCH) {
    throw new FhirError(415, `${what} takes a FHIR resource (application/fhir+json), not a JSON Patch; use PATCH for patches`, 'not-supported');
  }
  if (!isJsonBody(req)) {
    throw new FhirError(415, `${what} takes a FHIR resource as application/fhir+json or application/json`, 'not-supported');
  }
}

export function resourceRoutes(app: FastifyInstance, ctx: FhirContext): void {
  app.post<{ Params: TypeParams }>('/:type', async (req, reply) => {
    requireJsonBody(req, 'create');
    const ifNoneExist = req.headers['if-none-exist'];
    if (typeof ifNoneExist === 'string') {
      // R4 http.html#ccreate: one match answers 200 with it and creates nothing.
      const { record, created } = await conditionalCreate(req.ctx, req.params.type, req.body, ifNoneExist);
      return created
        ? sendWritten(req.ctx, req, reply, record, 201, `Created ${record.type}/${record.id} version ${record.versionId}`)
        : sendWritten(req.ctx, req, reply, record, 200, `${record.type}/${record.id} matches If-None-Exist; nothing created`);
    }
    const r = await create(req.ctx, req.params.type, req.body);
    return sendWritten(req.ctx, req, reply, r, 201, `Created ${r.type}/${r.id} version ${r.versionId}`);
  });

  app.get<{ Params: InstanceParams }>('/:type/:id', async (req, reply) => {
    return sendRead(req, reply, await read(req.ctx, req.params.type, req.params.id));
  });

  app.get<{ Params: VersionParams }>('/:type/:id/_history/:vid', async (req, reply) => {
    return sendRead(req, reply, await vread(req.ctx, req.params.type, req.params.id, req.params.vid));
  });

  app.put<{ Params: InstanceParams }>('/:type/:id', async (req, reply) => {
    requireJsonBody(req, 'update');
    const ifMatch = parseETag(req.headers['if-match'], 'If-Match');
    const { record, created } = await update(req.ctx, {
      type: req.params.type, id: req.params.id, body: req.body, ...(ifMatch !== undefined ? { ifMatch } : {}),
    });
    const verb = created ? 'Created' : 'Updated';
    return sendWritten(req.ctx, req, reply, record, created ? 201 : 200, `${verb} ${record.type}/${record.id} version ${record.versionId}`);
  });

  app.patch<{ Params: InstanceParams }>('/:type/:id', async (req, reply) => {
    if (contentTypeOf(req) !== JSON_PATCH) {
      throw new FhirError(415, `PATCH takes a JSON Patch document (Content-Type: ${JSON_PATCH}); FHIRPath Patch is not supported`, 'not-supported');
    }
    const ifMatch = parseETag(req.headers['if-match'], 'If-Match');
    const r = await patch(req.ctx, { type: req.params.type, id: req.params.id, body: req.body, ...(ifMatch !== undefined ? { ifMatch } : {}) });
    return sendWritten(req.ctx, req, reply, r, 200, `Patched ${r.type}/${r.id} to version ${r.versionId}`);
  });

  app.delete<{ Params: InstanceParams }>('/:type/:id', async (req, reply) => {
    const ifMatch = parseETag(req.headers['if-match'], 'If-Match');
    const result = await remove(req.ctx, req.params.type, req.params.id, ifMatch);
    const name = `${req.params.type}/${req.params.id}`;
    if (result.record) reply.headers({ etag: `W/"${result.record.versionId}"` });
    // R4 http.html#delete: deleting what is already gone or never existed is not an error.
    const message = result.status === 'deleted' ? `Deleted ${name}`
      : result.status === 'already-deleted' ? `${name} was already deleted` : `${name} does not exist; nothing to delete`;
    if (parsePrefer(req.headers.prefer).return === 'minimal') return reply.code(204).send();
    const severity = result.status === 'deleted' ? 'information' : 'warning';
    return sendOutcome(reply, 200, [issue(severity, result.status === 'missing' ? 'not-found' : 'informational', message)]);
  });
}
