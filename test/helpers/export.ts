// Bulk Data export from a test: kick-off, poll, download, and backend-services tokens.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { addClient, AUTH, tokenRequest } from './auth.js';

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

const local = (url: string): string => url.replace('http://flint.test', '');

/** Kick-off; the status URL (path) on 202, else throws with the answer. */
export async function kick(app: FastifyInstance, url: string, opts: { method?: 'GET' | 'POST'; payload?: unknown; headers?: Record<string, string> } = {}): Promise<string> {
  const res = await kickRaw(app, url, opts);
  if (res.statusCode !== 202) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 400)}`);
  return local(String(res.headers['content-location']));
}

export function kickRaw(app: FastifyInstance, url: string, opts: { method?: 'GET' | 'POST'; payload?: unknown; headers?: Record<string, string> } = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method: opts.method ?? 'GET', url,
    headers: { prefer: 'respond-async', accept: 'application/fhir+json', ...(opts.payload ? { 'content-type': 'application/fhir+json' } : {}), ...(opts.headers ?? {}) },
    ...(opts.payload ? { payload: JSON.stringify(opts.payload) } : {}),
  });
}

/** Polls until the export completes (200) or `ms` pass. */
export async function poll(app: FastifyInstance, status: string, ms = 20_000, headers: Record<string, string> = {}): Promise<Manifest> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await app.inject({ url: status, headers });
    if (res.statusCode === 200) return JSON.parse(res.body) as Manifest;
    if (res.statusCode !== 202) throw new Error(`${status}: ${res.statusCode} ${res.body.slice(0, 400)}`);
    if (Date.now() > until) throw new Error(`${status}: still ${res.headers['x-progress']}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every line of every output file, parsed, with the file it came from. */
export async function download(app: FastifyInstance, m: Manifest, headers: Record<string, string> = {}): Promise<{ file: string; resource: Record<string, any> }[]> {
  const out: { file: string; resource: Record<string, any> }[] = [];
  for (const o of m.output) {
    const res = await app.inject({ url: local(o.url), headers });
    if (res.statusCode !== 200) throw new Error(`${o.url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    const lines = res.body.split('\n').filter(Boolean);
    if (lines.length !== o.count) throw new Error(`${o.url}: ${lines.length} lines, manifest says ${o.count}`);
    for (const l of lines) out.push({ file: o.url, resource: JSON.parse(l) as Record<string, any> });
  }
  return out;
}

/** Kick-off, poll, download: the exported resources as `Type/id` → resource. */
export async function exportAll(app: FastifyInstance, url: string, opts: { method?: 'GET' | 'POST'; payload?: unknown; headers?: Record<string, string> } = {}): Promise<{ manifest: Manifest; resources: Record<string, any>[] }> {
  const status = await kick(app, url, opts);
  const manifest = await poll(app, status, 20_000, opts.headers);
  const resources = (await download(app, manifest, opts.headers)).map((x) => x.resource);
  return { manifest, resources };
}

/** A backend-services client (private_key_jwt) and a client-credentials token for it. */
export async function backendToken(app: FastifyInstance, clientId: string, scope: string): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const kid = randomUUID();
  await addClient(app, { client_id: clientId, type: 'asymmetric', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES384', use: 'sig' }] }, scopes: [scope] });
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES384', kid, typ: 'JWT' })
    .setIssuer(clientId).setSubject(clientId).setAudience(`${AUTH}/token`).setExpirationTime(now + 300).sign(privateKey);
  const r = await tokenRequest(app, { grant_type: 'client_credentials', scope, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
  if (r.status !== 200) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token as string;
}
