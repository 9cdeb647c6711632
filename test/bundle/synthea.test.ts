// The Synthea corpus as transactions: every record goes in atomically, temporary ids are
// rewritten, and Patient/$everything gives each record back whole.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { testApp, post, body } from '../helpers/app.js';
import { SYNTHEA_DIR, syntheaFiles } from '../helpers/synthea.js';
// The loader's job (corpus README): dangling urn:uuid references point at the shared files' resources.
import { localRefs } from '../../scripts/generate-data.js';

type Json = Record<string, any>;
const read = (f: string): Json => JSON.parse(readFileSync(join(SYNTHEA_DIR, f), 'utf8'));

async function everything(app: FastifyInstance, patientId: string): Promise<string[]> {
  const out: string[] = [];
  let next: string | undefined = `/fhir/Patient/${patientId}/$everything?_count=200`;
  while (next) {
    const b: Json = body(await app.inject(next));
    out.push(...(b.entry ?? []).map((e: Json) => `${e.resource.resourceType}/${e.resource.id}`));
    next = b.link.find((l: Json) => l.relation === 'next')?.url.replace('http://flint.test', '');
  }
  return out;
}

t.test('Synthea records load as transactions and come back whole through $everything', async (t) => {
  const app = await testApp(t);
  const { shared, patients } = syntheaFiles();
  const sharedMap = new Map<string, string>();
  const sharedEntries: Json[] = [];
  for (const f of shared) {
    for (const e of read(f).entry) {
      sharedMap.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
      sharedEntries.push({ resource: e.resource, request: { method: 'PUT', url: `${e.resource.resourceType}/${e.resource.id}` } });
    }
  }
  const sharedRes = await post(app, '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: sharedEntries });
  t.equal(sharedRes.statusCode, 200, 'organizations and practitioners (PUT with their uuids)');
  let total = 0;
  for (const f of patients) {
    const raw = read(f);
    // Only references that point outside this record (README: not inside the patient bundle).
    const own = new Set<string>(raw.entry.map((e: Json) => e.fullUrl));
    const bundle = localRefs(raw, new Map([...sharedMap].filter(([k]) => !own.has(k)))) as Json;
    bundle.type = 'transaction';
    const res = await post(app, '/fhir', bundle, { prefer: 'return=minimal' });
    t.equal(res.statusCode, 200, `${f}: accepted as one transaction`);
    const out = body(res);
    t.ok(out.entry.every((e: Json) => e.response.status === '201 Created'), `${f}: every entry created`);
    const created = out.entry.map((e: Json) => e.response.location.split('/_history')[0] as string);
    total += created.length;
    const patient = created.find((x: string) => x.startsWith('Patient/')) ?? '';
    const got = new Set(await everything(app, patient.split('/')[1] ?? ''));
    const missing = created.filter((x: string) => !got.has(x));
    t.same(missing, [], `${f}: $everything returns all ${created.length} resources of the record`);
    const foreign = [...got].filter((x) => !created.includes(x) && !x.startsWith('Practitioner/') && !x.startsWith('Organization/') && !x.startsWith('Location/'));
    t.same(foreign, [], `${f}: and nothing of another record`);
    // urn:uuid references were rewritten to the new ids, everywhere.
    const stored = await Promise.all(created.slice(0, 40).map(async (ref: string) => (await app.inject(`/fhir/${ref}`)).body));
    t.notOk(stored.some((s) => s.includes('"reference":"urn:uuid:')), `${f}: no temporary id is left in a stored reference`);
  }
  t.ok(total > 900, `${total} resources in all`);
});

t.test('a Synthea transaction with one broken entry leaves no trace', async (t) => {
  const app = await testApp(t);
  const { patients } = syntheaFiles();
  const bundle = read(patients[0] ?? '');
  bundle.type = 'transaction';
  bundle.entry[bundle.entry.length - 1].resource.status = 42;
  const res = await post(app, '/fhir', bundle);
  t.ok(res.statusCode >= 400 && res.statusCode < 500, `refused (${res.statusCode})`);
  t.match(body(res).issue[0].diagnostics, new RegExp(`entry ${bundle.entry.length - 1}`));
  const hist = body(await app.inject('/fhir/_history'));
  t.equal(hist.entry, undefined, 'nothing was stored');
});
