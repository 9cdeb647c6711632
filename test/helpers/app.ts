// Builds a Flint app for a test: in-memory SQLite, silent logs, closed when the test ends.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function testApp(t: Teardown, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', ...env });
  const app = await buildApp(config);
  t.teardown(() => app.close());
  return app;
}

export const FHIR = 'application/fhir+json';

/** The parsed JSON body of a response. */
export function body<T = Record<string, any>>(res: LightMyRequestResponse): T {
  return JSON.parse(res.body) as T;
}

export async function post(app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': FHIR, ...headers } });
}

export async function put(app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'PUT', url, payload: JSON.stringify(payload), headers: { 'content-type': FHIR, ...headers } });
}
