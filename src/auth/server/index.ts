// The SMART authorization server as Fastify plugins: /auth (authorize, token, introspect,
// revoke, manage, launch, style), /admin (clients, users, audit), and discovery under the FHIR
// base (.well-known). OAuth endpoints answer OAuth JSON errors, pages answer HTML.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { AuthService } from '../service.js';
import { authorizeRoutes, type PatientLookup } from './authorize.js';
import { tokenRoutes } from './token.js';
import { adminRoutes, launchRoutes, manageRoutes } from './admin.js';
import { discoveryRoutes, styleRoute } from './discovery.js';

export interface AuthPluginOptions {
  auth: AuthService;
  lookupPatients: PatientLookup;
}

/** Form bodies as plain objects; a repeated field becomes an array (the token endpoint refuses those). */
function formParser(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(body as string)) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    done(null, out);
  });
}

export const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (app, opts) => {
  formParser(app);
  // Anything else at an OAuth endpoint is read as no parameters (then refused as invalid_request).
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, _body, done) => done(null, undefined));
  authorizeRoutes(app, opts.auth, opts.lookupPatients);
  tokenRoutes(app, opts.auth);
  manageRoutes(app, opts.auth);
  launchRoutes(app, opts.auth);
  styleRoute(app);
};

export const adminPlugin: FastifyPluginAsync<{ auth: AuthService }> = async (app, opts) => {
  adminRoutes(app, opts.auth);
};

export const discoveryPlugin: FastifyPluginAsync<{ auth: AuthService; mountPath: string }> = async (app, opts) => {
  discoveryRoutes(app, opts.auth, opts.mountPath);
};
