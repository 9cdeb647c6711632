// Smoke tests on a real socket: Flint listening on a port, driven by fetch and by an
// independent FHIR client library (fhir-kit-client), as another EHR would.
import t from 'tap';
import { Client } from 'fhir-kit-client';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';

async function listening(t: { teardown(fn: () => unknown): void }) {
  // BASE_URL is fixed after listen, so bind first on a free port, then build with that port.
  const probe = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', PORT: '0', AUTH: 'off' }));
  await probe.listen({ port: 0, host: '127.0.0.1' });
  const address = probe.server.address();
  await probe.close();
  const port = typeof address === 'object' && address ? address.port : 0;
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'silent', PORT: String(port), AUTH: 'off' });
  const app = await buildApp(config);
  await app.listen({ port, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return { base: `http://localhost:${port}/fhir`, port };
}

t.test('over a socket: metadata, create, read with keep-alive headers', async (t) => {
  const { base } = await listening(t);
  const meta = await fetch(`${base}/metadata`);
  t.equal(meta.status, 200);
  t.equal(meta.headers.get('content-type'), 'application/fhir+json; charset=utf-8');
  const created = await fetch(`${base}/Patient`, {
    method: 'POST', headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Socket' }] }),
  });
  t.equal(created.status, 201);
  const location = created.headers.get('location') ?? '';
  t.match(location, new RegExp(`^${base}/Patient/[^/]+/_history/1$`));
  const read = await fetch(location.replace(/\/_history\/1$/, ''));
  t.equal(read.status, 200);
  t.equal(((await read.json()) as { name: { family: string }[] }).name[0]?.family, 'Socket');
  const big = await fetch(`${base}/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: 'x'.repeat(41 * 1024 * 1024) });  // over BODY_LIMIT's 40 MiB default
  t.equal(big.status, 413, 'oversized bodies are refused on the wire too');
});

t.test('fhir-kit-client: create, read, update, vread, history, patch, delete', async (t) => {
  const { base } = await listening(t);
  const client = new Client({ baseUrl: base });
  const cs = await client.capabilityStatement() as unknown as { fhirVersion: string };
  t.equal(cs.fhirVersion, '4.0.1');
  const created = await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Kit', given: ['Fhir'] }] } }) as unknown as { id: string; meta: { versionId: string } };
  t.equal(created.meta.versionId, '1');
  const read = await client.read({ resourceType: 'Patient', id: created.id }) as unknown as { name: { family: string }[] };
  t.equal(read.name[0]?.family, 'Kit');
  const updated = await client.update({ resourceType: 'Patient', id: created.id, body: { ...read, resourceType: 'Patient', gender: 'other' } }) as unknown as { meta: { versionId: string }; gender: string };
  t.equal(updated.meta.versionId, '2');
  t.equal(updated.gender, 'other');
  const v1 = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' }) as unknown as { gender?: string };
  t.equal(v1.gender, undefined);
  const patched = await client.patch({ resourceType: 'Patient', id: created.id, jsonPatch: [{ op: 'replace', path: '/gender', value: 'female' }] }) as unknown as { gender: string };
  t.equal(patched.gender, 'female');
  const hist = await client.history({ resourceType: 'Patient', id: created.id }) as unknown as { type: string; entry: unknown[] };
  t.equal(hist.type, 'history');
  t.equal(hist.entry.length, 3);
  await client.delete({ resourceType: 'Patient', id: created.id });
  try {
    await client.read({ resourceType: 'Patient', id: created.id });
    t.fail('read after delete should fail');
  } catch (err) {
    t.equal((err as { response?: { status?: number } }).response?.status, 410);
  }
  const typeHist = await client.history({ resourceType: 'Patient' }) as unknown as { entry: unknown[] };
  t.equal(typeHist.entry.length, 4);
});
