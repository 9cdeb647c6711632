// Every error leaves Flint as an OperationOutcome with the right status: FhirErrors as thrown by
// the engine, Fastify's own errors (body too large, bad media type, bad JSON) translated here.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { issue, outcomeJson, type Issue, type IssueCode } from '../fhir-basics/outcome.js';
import { discardRestOfBody } from './edge.js';
import { wantsXml } from './negotiation.js';
import { toXml } from '../xml/write.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function fastifyIssue(err: FastifyError, status: number): Issue {
  let code: IssueCode = 'invalid';
  let msg = err.message;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      code = 'too-costly';
      msg = 'The request body is larger than this server accepts (see BODY_LIMIT)';
      break;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      code = 'not-supported';
      msg = 'Unsupported Content-Type: send application/fhir+json, application/json, application/fhir+xml or application/xml; JSON Patch uses application/json-patch+json';
      break;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      code = 'structure';
      msg = 'The body is empty but the Content-Type says JSON';
      break;
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      code = 'structure';
      msg = 'Content-Length does not match the body';
      break;
    default:
      if (status === 404) code = 'not-found';
      else if (status === 405) code = 'not-supported';
      else if (status === 413) code = 'too-costly';
      else if (status === 415) code = 'not-supported';
      break;
  }
  return issue('error', code, msg);
}

/** An OperationOutcome, in XML when the request asked for XML (R4 http.html#mime-type), else FHIR JSON. */
export function sendOutcome(reply: FastifyReply, status: number, issues: Issue[], headers: Record<string, string> = {}): FastifyReply {
  const req = reply.request;
  const json = outcomeJson(issues);
  reply.code(status).headers(headers);
  // ctx and fhirFormat are null when the request failed before its onRequest hook set them.
  if (wantsXml(req.fhirFormat) && req.ctx) return reply.type(req.fhirFormat.contentType).send(toXml(req.ctx.defs, JSON.parse(json)));
  return reply.type(FHIR_JSON).send(json);
}

export function errorHandler(err: FastifyError | FhirError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Refused before its body was read (413, bad JSON early): the client may still be sending.
  if (req.raw.complete === false) discardRestOfBody(req, reply);
  if (err instanceof FhirError) return sendOutcome(reply, err.status, err.issues, err.headers);
  const status = (err as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return sendOutcome(reply, status, [fastifyIssue(err as FastifyError, status)]);
  }
  // Log the failure itself, never the request body: it may hold patient data.
  req.log.error({ reqId: req.id, err: { type: err.name, code: (err as FastifyError).code, stack: err.stack } }, 'unhandled error');
  return sendOutcome(reply, 500, [issue('fatal', 'exception', `Internal server error (request ${req.id})`)]);
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendOutcome(reply, 404, [issue('error', 'not-found', `No such endpoint: ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}`)]);
}
