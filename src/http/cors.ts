// CORS (SMART 2.1+ §CORS): discovery, metadata and the style document are open to any origin;
// the token endpoint and the FHIR API to the origins registered for a client. Preflight
// requests are answered here, for every path.
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

const OPEN = /\/\.well-known\/|\/fhir\/metadata(\?|$)|\/auth\/style\.json/;
const ALLOW_HEADERS = 'authorization, content-type, accept, prefer, if-match, if-none-match, if-modified-since, if-none-exist, x-request-id';
const EXPOSE = 'Location, Content-Location, ETag, Last-Modified, WWW-Authenticate, X-Request-Id';

/** `allowed` may look the origin up in the auth registry (a promise); requests without Origin never wait. */
export function registerCors(app: FastifyInstance, allowed: (origin: string) => boolean | Promise<boolean>): void {
  app.addHook('onRequest', (req, reply, done) => {
    const origin = req.headers.origin;
    if (!origin) return done();
    const open = OPEN.test(req.url);
    if (open) return answer(req, reply, done, origin, true, true);
    Promise.resolve(allowed(origin)).then((ok) => answer(req, reply, done, origin, false, ok), (err: unknown) => done(err as Error));
  });
}

/** Sets the CORS headers for an origin found allowed (or not), and answers a preflight itself. */
function answer(req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, origin: string, open: boolean, ok: boolean): void {
  if (ok) {
    reply.header('access-control-allow-origin', open ? '*' : origin);
    reply.header('access-control-expose-headers', EXPOSE);
    if (!open) reply.header('vary', 'Origin');
  }
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
    reply.code(204).headers({
      'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
      'access-control-allow-headers': ALLOW_HEADERS,
      'access-control-max-age': '600',
    }).send();
    return;
  }
  done();
}
