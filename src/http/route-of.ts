// The route pattern a request matched (`/fhir/:type/:id`), or 'unmatched'. Fastify builds a
// whole options object on each `req.routeOptions` read; the audit entry, the request line and the
// media-type check all want the pattern of the same request in one turn, so the last answer is kept.
import type { FastifyRequest } from 'fastify';

let lastReq: FastifyRequest | undefined;
let lastRoute = '';

export function routeOf(req: FastifyRequest): string {
  if (req !== lastReq) {
    lastRoute = req.routeOptions.url ?? 'unmatched';
    lastReq = req;
  }
  return lastRoute;
}
