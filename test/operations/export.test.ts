// Bulk Data $export (IG v2.0.0): kick-off, status, manifest, files, snapshot, filters, cancel.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { testApp, load, clinic, body, ids, put } from '../helpers/app.js';
import { exportAll, kick, kickRaw, poll, download } from '../helpers/export.js';

const key = (r: { resourceType: string; id: string }): string => `${r.resourceType}/${r.id}`;

/** Every resource of `types` through search, `Type/id` sorted. */
async function searched(app: FastifyInstance, types: Iterable<string>, query = ''): Promise<string[]> {
  const out: string[] = [];
  for (const type of types) out.push(...await ids(app, `/fhir/${type}?_count=1000${query ? `&${query}` : ''}`));
  return out.sort();
}

t.test('system $export: 202 + Content-Location, then a manifest whose files hold every resource once, as read', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const kickoff = await kickRaw(app, '/fhir/$export');
  t.equal(kickoff.statusCode, 202);
  t.match(kickoff.headers['content-location'], /^http:\/\/flint\.test\/fhir\/\$export-status\/[0-9a-f-]{36}$/);
  const status = String(kickoff.headers['content-location']).replace('http://flint.test', '');
  const manifest = await poll(app, status);
  t.match(manifest, { request: 'http://flint.test/fhir/$export', requiresAccessToken: false, error: [] });
  t.ok(Date.parse(manifest.transactionTime) <= Date.now());
  const res = await app.inject(status);
  t.match(res.headers['content-type'], /^application\/json/);
  for (const o of manifest.output) t.match(o.url, /^http:\/\/flint\.test\/fhir\/\$export-file\//);
  const file = await app.inject(manifest.output[0]?.url.replace('http://flint.test', '') ?? '');
  t.match(file.headers['content-type'], /^application\/fhir\+ndjson/);
  const exported = (await download(app, manifest)).map((x) => x.resource);
  const keys = exported.map((r) => key(r as never)).sort();
  t.same(keys, [...new Set(keys)], 'no resource twice');
  const types = new Set(exported.map((r) => String(r.resourceType)));
  for (const r of clinic()) t.ok(types.has(r.resourceType), `${r.resourceType} exported`);
  t.same(keys, await searched(app, types), 'exactly what search finds');
  // Resource by resource, the file holds what a read returns.
  for (const r of exported.slice(0, 25)) t.same(r, body(await app.inject(`/fhir/${key(r as never)}`)), key(r as never));
});

t.test('the export is the snapshot at transactionTime: later writes, deletes and creates do not show', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const before = body(await app.inject('/fhir/Patient/pat-bob'));
  const status = await kick(app, '/fhir/$export?_type=Patient,Observation');
  // Written after the kick-off fixed transactionTime, whenever the worker gets to them.
  await put(app, '/fhir/Patient/pat-bob', { ...before, gender: 'other', meta: undefined });
  t.equal((await app.inject({ method: 'DELETE', url: '/fhir/Observation/obs-bob-bp' })).statusCode < 300, true);
  await put(app, '/fhir/Patient/pat-new', { resourceType: 'Patient', id: 'pat-new' });
  const manifest = await poll(app, status);
  const exported = (await download(app, manifest)).map((x) => x.resource);
  const bob = exported.find((r) => key(r as never) === 'Patient/pat-bob');
  t.same(bob, before, 'Patient/pat-bob as it was at transactionTime');
  t.ok(exported.some((r) => key(r as never) === 'Observation/obs-bob-bp'), 'deleted after: still in the snapshot');
  t.notOk(exported.some((r) => key(r as never) === 'Patient/pat-new'), 'created after: not in it');
  const keys = exported.map((r) => key(r as never));
  t.equal(keys.length, new Set(keys).size, 'once each');
});

t.test('_type, _since and _typeFilter mean what search means', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const { resources: obs } = await exportAll(app, '/fhir/$export?_type=Observation&_typeFilter=Observation%3Fcode%3Dhttp%3A%2F%2Floinc.org%7C4548-4');
  t.same(obs.map((r) => key(r as never)).sort(), await searched(app, ['Observation'], 'code=http%3A%2F%2Floinc.org%7C4548-4'));
  t.ok(obs.length > 0, 'the filter matches something');
  const two = await exportAll(app, '/fhir/$export?_type=Observation,Patient&_typeFilter=Observation%3Fstatus%3Dfinal,Patient%3Fgender%3Dfemale');
  t.same(two.resources.map((r) => key(r as never)).sort(), [...await searched(app, ['Observation'], 'status=final'), ...await searched(app, ['Patient'], 'gender=female')].sort());
  // _since: only what was written at or after it.
  await new Promise((r) => setTimeout(r, 5));
  const since = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 5));
  const pat = body(await app.inject('/fhir/Patient/pat-alice'));
  await put(app, '/fhir/Patient/pat-alice', { ...pat, active: false });
  const { resources: changed } = await exportAll(app, `/fhir/$export?_since=${encodeURIComponent(since)}`);
  t.same(changed.map((r) => key(r as never)), ['Patient/pat-alice']);
  t.same(changed.map((r) => key(r as never)).sort(), (await ids(app, `/fhir/Patient?_lastUpdated=ge${encodeURIComponent(since)}`)).sort());
});

t.test('Patient/$export and Group/[id]/$export: the compartments of the patients, and only theirs', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  await put(app, '/fhir/Group/g1', { resourceType: 'Group', id: 'g1', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/pat-bob' } }] });
  const { resources } = await exportAll(app, '/fhir/Group/g1/$export');
  const everything = body(await app.inject('/fhir/Patient/pat-bob/$everything?_count=1000')) as { entry: { resource: { resourceType: string; id: string }; search: { mode: string } }[] };
  const compartment = everything.entry.filter((e) => e.search.mode === 'match').map((e) => key(e.resource)).sort();
  t.same(resources.map((r) => key(r as never)).sort(), compartment, 'Group of one: that patient\'s compartment');
  const post = await exportAll(app, '/fhir/Patient/$export', { method: 'POST', payload: { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: 'Patient/pat-bob' } }, { name: '_type', valueString: 'Observation' }] } });
  t.same(post.resources.map((r) => key(r as never)).sort(), compartment.filter((k) => k.startsWith('Observation/')));
  const all = await exportAll(app, '/fhir/Patient/$export?_type=Patient');
  t.same(all.resources.map((r) => key(r as never)).sort(), await searched(app, ['Patient']));
  t.equal((await kickRaw(app, '/fhir/Group/nope/$export')).statusCode, 404);
});

// Bulk Data export.html: the server SHOULD omit unlisted, non-mandatory elements (Observation.code is 1..1).
t.test('_elements keeps the named and the mandatory elements (and marks the resources SUBSETTED)', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const { resources } = await exportAll(app, '/fhir/$export?_type=Patient,Observation&_elements=Patient.gender,status');
  const p = resources.find((r) => r.resourceType === 'Patient');
  t.same(Object.keys(p ?? {}).sort(), ['gender', 'id', 'meta', 'resourceType']);
  t.ok(p?.meta.tag.some((x: { code: string }) => x.code === 'SUBSETTED'));
  const o = resources.find((r) => r.resourceType === 'Observation');
  t.same(Object.keys(o ?? {}).sort(), ['code', 'id', 'meta', 'resourceType', 'status']);
  t.notOk(o && 'subject' in o, 'an unlisted optional element is left out');
});

t.test('files are split at EXPORT_FILE_MAX_BYTES', async (t) => {
  const app = await testApp(t, { EXPORT_FILE_MAX_BYTES: '2048' });
  await load(app, clinic());
  const status = await kick(app, '/fhir/$export');
  const manifest = await poll(app, status);
  const small = await testApp(t);
  await load(small, clinic());
  const whole = await exportAll(small, '/fhir/$export');
  t.ok(manifest.output.length > whole.manifest.output.length, 'more files');
  for (const o of manifest.output) {
    const res = await app.inject(o.url.replace('http://flint.test', ''));
    const lines = res.body.split('\n').filter(Boolean);
    t.ok(Buffer.byteLength(res.body) <= 2048 || lines.length === 1, `${o.url} within the limit`);
  }
  t.equal((await download(app, manifest)).length, whole.resources.length, 'same resources');
});

t.test('kick-off refusals are OperationOutcomes that change nothing', async (t) => {
  const app = await testApp(t);
  const cases: [string, Record<string, string>, number, RegExp][] = [
    ['/fhir/$export', { prefer: '' }, 400, /respond-async/],
    ['/fhir/$export', { prefer: 'respond-sync, handling=bogus' }, 400, /respond-async/],
    ['/fhir/$export?_outputFormat=text/csv', {}, 400, /_outputFormat/],
    ['/fhir/$export?_bogus=1', {}, 400, /_bogus/],
    ['/fhir/$export?_bogus=1', { prefer: 'respond-async, handling=strict' }, 400, /_bogus/],
    ['/fhir/$export?includeAssociatedData=LatestProvenanceResources', {}, 400, /includeAssociatedData/],
    ['/fhir/$export?_type=NotAType', {}, 400, /NotAType/],
    [`/fhir/$export?_type=${Array(1001).fill('Patient').join(',')}`, {}, 400, /more than 1000/],
    [`/fhir/$export?_typeFilter=Patient%3Fname%3D${'x'.repeat(9000)}`, {}, 400, /longer than/],
    [`/fhir/$export?_typeFilter=${Array(101).fill('Patient%3Fgender%3Dmale').join(',')}`, {}, 400, /more than 100/],
    ['/fhir/$export?_typeFilter=Patient%3F_include%3DPatient%3Aorganization', {}, 400, /_include/],
    ['/fhir/$export?_typeFilter=Patient%3Fnosuchparam%3D1', {}, 400, /nosuchparam/],
    ['/fhir/$export?_since=yesterday', {}, 400, /_since/],
    ['/fhir/$export?_elements=a.b.c', {}, 400, /_elements/],
    ['/fhir/$export?patient=Patient/x', {}, 400, /patient/],
    ['/fhir/Patient/$export?_type=CodeSystem', {}, 400, /compartment/],
  ];
  for (const [url, headers, status, msg] of cases) {
    const res = await app.inject({ url, headers: { prefer: 'respond-async', ...headers } });
    t.equal(res.statusCode, status, url.slice(0, 80));
    t.match(body(res), { resourceType: 'OperationOutcome' });
    t.match(res.body, msg, url.slice(0, 80));
  }
  const bad = await app.inject({ method: 'POST', url: '/fhir/$export', payload: '{"resourceType":"Patient"}', headers: { prefer: 'respond-async', 'content-type': 'application/fhir+json' } });
  t.equal(bad.statusCode, 400, 'POST takes Parameters');
  const bundle = await app.inject({ method: 'POST', url: '/fhir', payload: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: '$export' } }] }), headers: { 'content-type': 'application/fhir+json' } });
  t.match(body(bundle).entry?.[0]?.response?.status, /^4/, 'not from a Bundle entry');
});

t.test('Prefer: handling=lenient ignores what is not supported and says so in the error file', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const { manifest, resources } = await exportAll(app, '/fhir/$export?_type=Patient,NotAType&_bogus=1', { headers: { prefer: 'respond-async, handling=lenient' } });
  t.ok(resources.length > 0 && resources.every((r) => r.resourceType === 'Patient'));
  t.equal(manifest.error.length, 1);
  const errors = await app.inject(manifest.error[0]?.url.replace('http://flint.test', '') ?? '');
  const outcome = JSON.parse(errors.body.trim()) as { resourceType: string; issue: { diagnostics: string }[] };
  t.equal(outcome.resourceType, 'OperationOutcome');
  t.match(outcome.issue.map((i) => i.diagnostics).join('\n'), /NotAType[\s\S]*_bogus|_bogus[\s\S]*NotAType/);
});

t.test('DELETE cancels; the status then is 404, and so is a second DELETE', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const status = await kick(app, '/fhir/$export');
  t.equal((await app.inject({ method: 'DELETE', url: status })).statusCode, 202);
  t.equal((await app.inject(status)).statusCode, 404);
  t.equal((await app.inject({ method: 'DELETE', url: status })).statusCode, 404);
  // A finished export's files go too.
  const done = await kick(app, '/fhir/$export?_type=Patient');
  const manifest = await poll(app, done);
  t.equal((await app.inject({ method: 'DELETE', url: done })).statusCode, 202);
  t.equal((await app.inject(manifest.output[0]?.url.replace('http://flint.test', '') ?? '')).statusCode, 404);
  t.equal((await app.inject('/fhir/$export-status/not-a-job')).statusCode, 404);
  t.equal((await app.inject('/fhir/$export-status/00000000-0000-0000-0000-000000000000')).statusCode, 404);
});

t.test('concurrent kick-offs each get their own complete export', async (t) => {
  const app = await testApp(t);
  await load(app, clinic());
  const statuses = await Promise.all(Array.from({ length: 6 }, () => kick(app, '/fhir/$export?_type=Patient')));
  t.equal(new Set(statuses).size, 6);
  const expected = await searched(app, ['Patient']);
  for (const s of statuses) {
    const m = await poll(app, s);
    t.same((await download(app, m)).map((x) => key(x.resource as never)).sort(), expected);
  }
});

const patient = (id: string) => ({ resourceType: 'Patient', id });
const observation = (id: string, subject: string, performer?: string) => ({
  resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${subject}` },
  ...(performer ? { performer: [{ reference: `Patient/${performer}` }] } : {}),
});

t.test('a resource in several listed patients\' compartments is written once (Group and patient parameter)', async (t) => {
  const app = await testApp(t);
  // 55 members: more than one batch of patients, so the second member of obs-far is in a later batch.
  const members = Array.from({ length: 55 }, (_, i) => `m${i}`);
  const group: { resourceType: string; id: string } = { resourceType: 'Group', id: 'g-many', ...{ type: 'person', actual: true, member: members.map((m) => ({ entity: { reference: `Patient/${m}` } })) } };
  await load(app, [
    ...members.map(patient),
    observation('obs-both', 'm0', 'm1'), observation('obs-far', 'm2', 'm53'), observation('obs-one', 'm54'), observation('obs-outside', 'stranger'),
    patient('stranger'), group,
  ]);
  const { resources } = await exportAll(app, '/fhir/Group/g-many/$export');
  const keys = resources.map((r) => key(r as never)).sort();
  t.same(keys, [...new Set(keys)], 'no resource twice');
  for (const k of ['Observation/obs-both', 'Observation/obs-far', 'Observation/obs-one', 'Group/g-many', 'Patient/m0', 'Patient/m54']) t.ok(keys.includes(k), `${k} exported`);
  t.notOk(keys.includes('Observation/obs-outside') || keys.includes('Patient/stranger'), 'nothing outside the members\' compartments');
  t.equal(keys.length, members.length + 4, 'the members, their three observations and the Group');
  const post = await exportAll(app, '/fhir/Patient/$export', { method: 'POST', payload: { resourceType: 'Parameters', parameter: [
    { name: 'patient', valueReference: { reference: 'Patient/m1' } }, { name: 'patient', valueReference: { reference: 'Patient/m0' } }, { name: '_type', valueString: 'Observation' },
  ] } });
  t.same(post.resources.map((r) => key(r as never)), ['Observation/obs-both'], 'patient parameter: once');
});

// IG v2.0.0 group-export, _since: a server MAY return resources modified before _since for
// patients added to the Group after it; Flint does (README: Bulk Data).
t.test('Group/[id]/$export with _since: members added after _since come whole, the others only with what changed', async (t) => {
  const app = await testApp(t);
  await load(app, [patient('old'), patient('new'), observation('obs-old-1', 'old'), observation('obs-old-2', 'old'), observation('obs-new', 'new')]);
  await put(app, '/fhir/Group/g-since', { resourceType: 'Group', id: 'g-since', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/old' } }] });
  await new Promise((r) => setTimeout(r, 5));
  const since = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 5));
  await put(app, '/fhir/Observation/obs-old-2', { ...observation('obs-old-2', 'old'), status: 'amended' });
  await put(app, '/fhir/Group/g-since', { resourceType: 'Group', id: 'g-since', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/old' } }, { entity: { reference: 'Patient/new' } }] });
  const { resources } = await exportAll(app, `/fhir/Group/g-since/$export?_since=${encodeURIComponent(since)}`);
  t.same(resources.map((r) => key(r as never)).sort(), ['Group/g-since', 'Observation/obs-new', 'Observation/obs-old-2', 'Patient/new'],
    'the new member whole; of the old one, only what changed after _since');
  // A Group created after _since: every member is new.
  await put(app, '/fhir/Group/g-later', { resourceType: 'Group', id: 'g-later', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/old' } }] });
  const later = await exportAll(app, `/fhir/Group/g-later/$export?_since=${encodeURIComponent(since)}&_type=Observation`);
  t.same(later.resources.map((r) => key(r as never)).sort(), ['Observation/obs-old-1', 'Observation/obs-old-2']);
});
