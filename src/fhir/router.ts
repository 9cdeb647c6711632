// The one way through the engine: a route table (method + path → handler) matched with
// find-my-way, the matcher Fastify itself uses, so a path means the same on the wire and in a
// Bundle. HTTP registers every route with Fastify (src/http/routes.ts); a batch or transaction
// Bundle (POST to the base) sends each entry through `find` to the same handlers.
import FindMyWay from 'find-my-way';
import type { Match, Method, Route, RouteTable } from './request.js';
import { processBundle } from './interactions/bundle.js';
import { parsePrefer } from '../fhir-basics/prefer.js';

const METHODS: readonly Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

export class Router implements RouteTable {
  readonly routes: readonly Route[];
  private readonly matcher = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 200 });

  constructor(routes: readonly Route[]) {
    const bundle: Route = {
      // R4 http.html#transaction: a batch or transaction is a Bundle POSTed to the base.
      method: 'POST', path: '/', body: 'resource', inBundle: false,
      handler: async (ctx, req) => ({
        status: 200,
        json: await processBundle(ctx, req.body, parsePrefer(req.prefer).return ?? 'representation', this),
      }),
    };
    this.routes = [...routes, bundle];
    for (const r of this.routes) this.matcher.on(r.method, r.path, () => undefined, r);
  }

  /** The route for `method` and `path` (relative to the base, starting with `/`, no query). */
  find(method: Method, path: string): Match | undefined {
    const found = this.matcher.find(method, path);
    return found ? { route: found.store as Route, params: found.params } : undefined;
  }

  /** The methods some route takes at `path` (for 405 and Allow). */
  allowed(path: string): Method[] {
    return METHODS.filter((m) => this.matcher.find(m, path) !== null);
  }
}
