// Who may export what: backend-services tokens, patient tokens, scopes per type; status and files
// only for the client that kicked the export off; discovery advertises the operations.
import t from 'tap';
import { authApp, seedClinic, userToken, withToken } from '../helpers/auth.js';
import { body, ids } from '../helpers/app.js';
import { backendToken, download, exportAll, kick, kickRaw, poll } from '../helpers/export.js';

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const local = (url: string): string => url.replace('http://flint.test', '');

t.test('a backend-services client exports everything; only it can poll, download and cancel', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  const token = await backendToken(app, 'bulk', 'system/*.read');
  const other = await backendToken(app, 'bulk-2', 'system/*.read');
  t.equal((await kickRaw(app, '/fhir/$export')).statusCode, 401, 'no token, no kick-off');
  const status = await kick(app, '/fhir/$export?_type=Patient,Observation', { headers: bearer(token) });
  t.equal((await app.inject({ url: status })).statusCode, 401, 'no token, no status');
  t.equal((await app.inject({ url: status, headers: bearer(other) })).statusCode, 404, 'another client: as if there were no such export');
  const manifest = await poll(app, status, 20_000, bearer(token));
  t.equal(manifest.requiresAccessToken, true);
  const file = local(manifest.output[0]?.url ?? '');
  t.equal((await app.inject({ url: file })).statusCode, 401, 'a file needs the token');
  t.equal((await app.inject({ url: file, headers: bearer(other) })).statusCode, 404, 'and the same client');
  const keys = (await download(app, manifest, bearer(token))).map((x) => `${x.resource.resourceType}/${x.resource.id}`).sort();
  const dr = withToken(app, await userToken(app, 'app2', 'dr-smith', 'user/*.rs'));
  t.same(keys, [...await ids(dr, '/fhir/Observation?_count=1000'), ...await ids(dr, '/fhir/Patient?_count=1000')].sort());
  t.equal((await app.inject({ method: 'DELETE', url: status, headers: bearer(other) })).statusCode, 404, 'another client cannot cancel');
  t.equal((await app.inject({ method: 'DELETE', url: status, headers: bearer(token) })).statusCode, 202);
});

t.test('scopes per type: named types must be readable; without _type the readable ones are exported', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  const token = await backendToken(app, 'bulk-pat', 'system/Patient.read');
  const refused = await kickRaw(app, '/fhir/$export?_type=Patient,Observation', { headers: bearer(token) });
  t.equal(refused.statusCode, 403);
  t.match(body(refused), { resourceType: 'OperationOutcome' });
  const { resources } = await exportAll(app, '/fhir/$export', { headers: bearer(token) });
  t.ok(resources.length > 0);
  t.ok(resources.every((r) => r.resourceType === 'Patient'), 'Patients only');
});

t.test('a patient token exports its own compartment and nothing of another patient', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  const token = await userToken(app, 'app', 'alice', 'launch/patient patient/*.rs');
  const { resources } = await exportAll(app, '/fhir/$export', { headers: bearer(token) });
  const keys = resources.map((r) => `${r.resourceType}/${r.id}`);
  t.ok(keys.includes('Patient/pat-alice'));
  t.notOk(keys.some((k) => k.includes('bob') || k.includes('chloe')), 'no other patient\'s records');
  const alice = withToken(app, token);
  const types = [...new Set(resources.map((r) => String(r.resourceType)))];
  const searched: string[] = [];
  for (const type of types) searched.push(...await ids(alice, `/fhir/${type}?_count=1000`));
  t.same(keys.sort(), searched.sort(), 'exactly what the same token finds by search');
  const group = await kickRaw(app, '/fhir/Patient/$export', { method: 'POST', headers: bearer(token), payload: { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: 'Patient/pat-bob' } }] } });
  t.equal(group.statusCode, 404, 'another patient is not even known');
});

t.test('discovery: the CapabilityStatement lists the Bulk Data operations', async (t) => {
  const app = await authApp(t);
  const cs = body(await app.inject('/fhir/metadata'));
  const rest = cs.rest[0];
  t.ok(rest.operation.some((o: { name: string; definition: string }) => o.name === 'export' && o.definition === 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export'));
  t.ok(rest.operation.some((o: { name: string }) => o.name === 'import'));
  const op = (type: string) => rest.resource.find((r: { type: string }) => r.type === type).operation.map((o: { definition: string }) => o.definition);
  t.ok(op('Patient').includes('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export'));
  t.ok(op('Group').includes('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export'));
  t.ok(cs.instantiates.some((c: string) => c.startsWith('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data')));
  const smart = body(await app.inject('/fhir/.well-known/smart-configuration'));
  t.ok(smart.grant_types_supported.includes('client_credentials'), 'backend services');
  t.ok(smart.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
});
