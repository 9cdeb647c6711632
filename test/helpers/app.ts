// Builds a Flint app for a test: in-memory SQLite (or MongoDB over mingo, see storeUnderTest), silent logs, closed when the test ends.
import { readFileSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { randomUUID } from 'node:crypto';
import { MongoStore } from '../../src/store/mongo/store.js';
import { MongoRegistry } from '../../src/store/mongo/registry.js';
import { connectMongo } from '../../src/store/mongo/driver.js';
import { MingoDb } from './mingo-db.js';
import type { MongoDb } from '../../src/store/mongo/db.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * The per-client rate limit is off unless a test sets RATE_LIMIT: tests load fixtures through the
 * API faster than any client is allowed to (test/http/limits.test.ts tests the limits themselves).
 */
export async function testApp(t: Teardown, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', BASE_URL: 'http://flint.test/fhir', AUTH: 'off', RATE_LIMIT: '0', ...env });
  const app = await buildApp(config, storeUnderTest());
  t.teardown(() => app.close());
  return app;
}

/**
 * FLINT_TEST_STORE=mingo (`npm run test:on-mongo`) runs the HTTP tests on the MongoDB adapter
 * over an in-memory mingo database instead of SQLite; FLINT_TEST_STORE=mongodb runs them on the
 * real server MONGODB_URI names, a fresh database per app (deploy/ci: a throwaway server, so
 * the databases are not dropped).
 */
/** MONGODB_URI with a fresh database name (FLINT_TEST_STORE=mongodb). */
function freshDatabaseUrl(): string {
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('FLINT_TEST_STORE=mongodb needs MONGODB_URI');
  return uri.replace(/^(mongodb(?:\+srv)?:\/\/[^/?]+)\/?[^?]*/, `$1/flint_test_${randomUUID().slice(0, 8)}`);
}

/**
 * One database for several Flint instances in one test (multi-instance tests): each call of
 * `handle()` is a connection of its own, as another process would have. The in-process
 * emulation by default; with FLINT_TEST_STORE=mongodb a fresh database on the real server
 * MONGODB_URI names (deploy/ci).
 */
export function sharedDatabase(): { handle(): Promise<MongoDb> } {
  if (process.env.FLINT_TEST_STORE === 'mongodb') {
    const url = freshDatabaseUrl();
    return { handle: () => connectMongo(url) };
  }
  const db = new MingoDb('replicaset');
  return { handle: () => Promise.resolve(db.reopen()) };
}

export function storeUnderTest(): BuildOptions {
  const kind = process.env.FLINT_TEST_STORE;
  if (kind === 'mongodb') {
    const url = freshDatabaseUrl();
    return {
      store: async (indexer) => MongoStore.open({ db: await connectMongo(url), indexer }),
      registry: async () => MongoRegistry.open({ db: await connectMongo(url), ownsDb: true }),
    };
  }
  if (kind !== 'mingo') return {};
  // The FHIR store and the auth registry on one database, as in production.
  const db = new MingoDb('replicaset');
  return { store: (indexer) => MongoStore.open({ db, indexer }), registry: () => MongoRegistry.open({ db }) };
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

/** Stores resources with their own ids (PUT), failing loudly on any refusal. */
export async function load(app: FastifyInstance, resources: { resourceType: string; id?: string }[]): Promise<void> {
  for (const r of resources) {
    const res = r.id ? await put(app, `/fhir/${r.resourceType}/${r.id}`, r) : await post(app, `/fhir/${r.resourceType}`, r);
    if (res.statusCode >= 300) throw new Error(`${r.resourceType}/${r.id}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  }
}

/**
 * GET a search and return the matched ids in order (`Type/id`). Strict handling: a parameter
 * the server does not understand fails the test instead of being silently ignored.
 */
export async function ids(app: FastifyInstance, url: string): Promise<string[]> {
  const res = await app.inject({ url, headers: { prefer: 'handling=strict' } });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  const b = JSON.parse(res.body) as { entry?: { resource: { resourceType: string; id: string }; search?: { mode: string } }[] };
  return (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => `${e.resource.resourceType}/${e.resource.id}`);
}

/** The clinic fixtures (fixtures/clinic.json) as resources. */
export function clinic(): { resourceType: string; id: string }[] {
  const b = JSON.parse(readFileSync(new URL('../../fixtures/clinic.json', import.meta.url), 'utf8')) as { entry: { resource: { resourceType: string; id: string } }[] };
  return b.entry.map((e) => e.resource);
}
