// Discovery: .well-known/smart-configuration, OpenID configuration, the JWKS, and the SMART
// style document. Public, JSON whatever the Accept header, open to any origin.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuthService } from '../service.js';

export const CAPABILITIES = [
  'launch-ehr', 'launch-standalone', 'authorize-post', 'client-public', 'client-confidential-symmetric',
  'client-confidential-asymmetric', 'sso-openid-connect', 'context-banner', 'context-style', 'context-ehr-patient',
  'context-ehr-encounter', 'context-standalone-patient', 'permission-offline', 'permission-patient', 'permission-user',
  'permission-v1', 'permission-v2',
];

export function endpoints(auth: AuthService): Record<string, string> {
  const a = auth.settings.authBase;
  return {
    authorization_endpoint: `${a}/authorize`,
    token_endpoint: `${a}/token`,
    introspection_endpoint: `${a}/introspect`,
    revocation_endpoint: `${a}/revoke`,
    management_endpoint: `${a}/manage`,
  };
}

export function smartConfiguration(auth: AuthService): Record<string, unknown> {
  const fhir = auth.settings.fhirBase;
  return {
    issuer: fhir,
    jwks_uri: `${fhir}/.well-known/jwks.json`,
    ...endpoints(auth),
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    scopes_supported: [
      'openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access',
      'patient/*.cruds', 'user/*.cruds', 'system/*.cruds', 'patient/*.rs', 'user/*.rs', 'system/*.rs',
      'patient/*.read', 'user/*.read', 'system/*.read', 'patient/*.write', 'user/*.write', 'system/*.write',
    ],
    capabilities: CAPABILITIES,
  };
}

function json(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json; charset=utf-8').header('cache-control', 'no-cache').send(JSON.stringify(body));
}

/** Routes under the FHIR base (`<mountPath>/.well-known/*`), registered without the FHIR plugin's parsing. */
export function discoveryRoutes(app: FastifyInstance, auth: AuthService, mountPath: string): void {
  app.get(`${mountPath}/.well-known/smart-configuration`, async (_req, reply) => json(reply, smartConfiguration(auth)));
  app.get(`${mountPath}/.well-known/openid-configuration`, async (_req, reply) => json(reply, {
    issuer: auth.settings.fhirBase,
    authorization_endpoint: `${auth.settings.authBase}/authorize`,
    token_endpoint: `${auth.settings.authBase}/token`,
    jwks_uri: `${auth.settings.fhirBase}/.well-known/jwks.json`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'fhirUser', 'profile', 'offline_access'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'fhirUser', 'nonce'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  }));
  app.get(`${mountPath}/.well-known/jwks.json`, async (_req, reply) => json(reply, await auth.keys.jwks()));
}

export function styleRoute(app: FastifyInstance): void {
  app.get('/style.json', async (_req, reply) => json(reply, {
    color_background: '#f5f7fa', color_error: '#a8071a', color_highlight: '#0b5fa5', color_modal_backdrop: '#1d273380',
    color_success: '#237804', color_text: '#1d2733', dim_border_radius: '4px', dim_font_size: '16px', dim_spacing_size: '16px',
    font_family_body: 'system-ui, sans-serif', font_family_heading: 'system-ui, sans-serif',
  }));
}
