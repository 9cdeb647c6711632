// 405 Method Not Allowed, with an Allow header, on every FHIR path for the methods it lacks.
import type { FastifyInstance, HTTPMethods } from 'fastify';
import { FhirError } from '../../fhir/errors.js';

const ALL: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Records the methods of every route registered after it in this plugin; `finish` then answers
 * each path's other methods with 405.
 */
export function trackMethods(app: FastifyInstance): { finish: () => void } {
  const allowed = new Map<string, Set<string>>();
  let done = false;
  app.addHook('onRoute', (route) => {
    if (done) return;
    const set = allowed.get(route.routePath) ?? new Set<string>();
    for (const m of [route.method].flat()) set.add(m);
    allowed.set(route.routePath, set);
  });
  return {
    finish() {
      done = true;
      for (const [url, set] of allowed) {
        if (set.has('GET')) set.add('HEAD');
        const others = ALL.filter((m) => !set.has(m));
        if (others.length === 0) continue;
        const allow = [...set].join(', ');
        app.route({
          method: others,
          url,
          handler: async (req) => {
            throw new FhirError(405, `${req.method} is not allowed here; allowed: ${allow}`, 'not-supported', { allow });
          },
        });
      }
    },
  };
}
