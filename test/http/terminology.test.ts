// The terminology operations over HTTP (R4 terminology-service.html): GET and POST, type and
// instance level, over R4's own value sets and ones created through the API; hostile inputs.
import t from 'tap';
import { testApp, post, put, body } from '../helpers/app.js';
import { authApp, seedClinic, userToken, withToken } from '../helpers/auth.js';

const CS = {
  resourceType: 'CodeSystem', id: 'shapes', url: 'http://example.org/cs/shapes', version: '1', name: 'Shapes', status: 'active', content: 'complete',
  concept: [
    { code: 'polygon', display: 'Polygon', concept: [{ code: 'triangle', display: 'Triangle' }, { code: 'square', display: 'Square' }] },
    { code: 'circle', display: 'Circle' },
  ],
};
const VS = {
  resourceType: 'ValueSet', id: 'polygons', url: 'http://example.org/vs/polygons', status: 'active',
  compose: { include: [{ system: 'http://example.org/cs/shapes', filter: [{ property: 'concept', op: 'is-a', value: 'polygon' }] }] },
};
const CM = {
  resourceType: 'ConceptMap', id: 'shape-map', url: 'http://example.org/cm/shapes', status: 'active',
  group: [{ source: 'http://example.org/cs/shapes', target: 'http://example.org/cs/forms', element: [{ code: 'square', target: [{ code: 'box', equivalence: 'equivalent' }] }] }],
};

const param = (b: { parameter?: { name: string; [k: string]: unknown }[] }, name: string) => b.parameter?.find((p) => p.name === name);
const codes = (b: { expansion?: { contains?: { code: string }[] } }) => (b.expansion?.contains ?? []).map((c) => c.code);

t.test('ValueSet/$expand of an R4 value set, GET with url, filter, count and offset', async (t) => {
  const app = await testApp(t);
  const all = await app.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender');
  t.equal(all.statusCode, 200);
  t.same(codes(body(all)).sort(), ['female', 'male', 'other', 'unknown']);
  t.equal(body(all).expansion.total, 4);
  const page = body(await app.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&count=1&offset=1'));
  t.equal(page.expansion.contains.length, 1);
  t.equal(page.expansion.total, 4);
  t.same(codes(body(await app.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&filter=fem'))), ['female']);
});

t.test('a CodeSystem and ValueSet created through the API expand, validate and change with updates', async (t) => {
  const app = await testApp(t);
  t.equal((await put(app, '/fhir/CodeSystem/shapes', CS)).statusCode, 201);
  t.equal((await put(app, '/fhir/ValueSet/polygons', VS)).statusCode, 201);
  t.same(codes(body(await app.inject('/fhir/ValueSet/$expand?url=http://example.org/vs/polygons'))), ['polygon', 'triangle', 'square']);
  t.same(codes(body(await app.inject('/fhir/ValueSet/polygons/$expand'))), ['polygon', 'triangle', 'square'], 'instance level');
  const ok = body(await app.inject('/fhir/ValueSet/$validate-code?url=http://example.org/vs/polygons&system=http://example.org/cs/shapes&code=square'));
  t.equal(param(ok, 'result')?.valueBoolean, true);
  t.equal(param(ok, 'display')?.valueString, 'Square');
  const no = body(await app.inject('/fhir/ValueSet/$validate-code?url=http://example.org/vs/polygons&system=http://example.org/cs/shapes&code=circle'));
  t.equal(param(no, 'result')?.valueBoolean, false);
  // An update of the CodeSystem is seen at once (the cache forgets it on write).
  await put(app, '/fhir/CodeSystem/shapes', { ...CS, concept: [{ ...CS.concept[0], concept: [...CS.concept[0]!.concept!, { code: 'hexagon', display: 'Hexagon' }] }, CS.concept[1]] });
  t.same(codes(body(await app.inject('/fhir/ValueSet/$expand?url=http://example.org/vs/polygons'))), ['polygon', 'triangle', 'square', 'hexagon']);
  t.equal((await app.inject({ method: 'DELETE', url: '/fhir/ValueSet/polygons' })).statusCode < 300, true);
  t.equal((await app.inject('/fhir/ValueSet/$expand?url=http://example.org/vs/polygons')).statusCode, 404, 'a deleted value set is gone');
});

t.test('CodeSystem/$lookup, $validate-code and $subsumes, GET and POST Parameters', async (t) => {
  const app = await testApp(t);
  await put(app, '/fhir/CodeSystem/shapes', CS);
  const lk = body(await app.inject('/fhir/CodeSystem/$lookup?system=http://example.org/cs/shapes&code=square'));
  t.equal(param(lk, 'display')?.valueString, 'Square');
  const posted = await post(app, '/fhir/CodeSystem/$lookup', { resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: { system: 'http://hl7.org/fhir/administrative-gender', code: 'female' } }] });
  t.equal(posted.statusCode, 200);
  t.equal(param(body(posted), 'display')?.valueString, 'Female');
  t.equal((await app.inject('/fhir/CodeSystem/$lookup?system=http://example.org/cs/shapes&code=nope')).statusCode, 404);
  const vc = body(await app.inject('/fhir/CodeSystem/shapes/$validate-code?code=triangle&display=Square'));
  t.equal(param(vc, 'result')?.valueBoolean, false, 'wrong display');
  const sub = body(await post(app, '/fhir/CodeSystem/$subsumes', { resourceType: 'Parameters', parameter: [{ name: 'system', valueUri: 'http://example.org/cs/shapes' }, { name: 'codeA', valueCode: 'polygon' }, { name: 'codeB', valueCode: 'square' }] }));
  t.equal(param(sub, 'outcome')?.valueCode, 'subsumes');
});

t.test('codes of systems Flint does not hold are reported as not checked', async (t) => {
  const app = await testApp(t);
  const r = await app.inject('/fhir/CodeSystem/$validate-code?url=http://snomed.info/sct&code=22298006');
  t.equal(r.statusCode, 200);
  t.equal(param(body(r), 'result'), undefined, 'neither valid nor invalid');
  t.match(param(body(r), 'message')?.valueString, /snomed/);
  const ex = await app.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/clinical-findings');
  t.equal(ex.statusCode, 404);
  t.match(ex.body, /snomed\.info\/sct/);
});

t.test('ConceptMap/$translate by url, by instance and in reverse', async (t) => {
  const app = await testApp(t);
  await put(app, '/fhir/ConceptMap/shape-map', CM);
  const fwd = body(await app.inject('/fhir/ConceptMap/$translate?url=http://example.org/cm/shapes&system=http://example.org/cs/shapes&code=square'));
  t.equal(param(fwd, 'result')?.valueBoolean, true);
  const any = body(await app.inject('/fhir/ConceptMap/$translate?system=http://example.org/cs/shapes&code=square'));
  t.equal(param(any, 'result')?.valueBoolean, true, 'found by source system');
  const back = body(await app.inject('/fhir/ConceptMap/shape-map/$translate?system=http://example.org/cs/forms&code=box&reverse=true'));
  t.equal((param(back, 'match')?.part as { name: string; valueCoding?: { code: string } }[]).find((p) => p.name === 'concept')?.valueCoding?.code, 'square');
});

t.test('hostile inputs get a 4xx OperationOutcome and nothing else', async (t) => {
  const app = await testApp(t);
  const expectError = async (res: { statusCode: number; body: string }, status: number, what: string) => {
    t.equal(res.statusCode, status, what);
    t.equal(JSON.parse(res.body).resourceType, 'OperationOutcome', `${what}: an OperationOutcome`);
  };
  await expectError(await app.inject('/fhir/ValueSet/$expand'), 400, 'no value set named');
  await expectError(await app.inject('/fhir/ValueSet/$expand?url=http://nowhere/vs'), 404, 'unknown value set');
  await expectError(await app.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&count=-1'), 400, 'negative count');
  await expectError(await app.inject('/fhir/ValueSet/$expand?url=a&url=b'), 400, 'repeated url');
  await expectError(await app.inject('/fhir/ValueSet/$expand?bogus=1&url=http://hl7.org/fhir/ValueSet/administrative-gender'), 400, 'unknown parameter');
  await expectError(await post(app, '/fhir/ValueSet/$expand', { resourceType: 'Patient' }), 400, 'a body that is not Parameters');
  await expectError(await post(app, '/fhir/ValueSet/$expand', { resourceType: 'Parameters', parameter: Array.from({ length: 500 }, () => ({ name: 'filter', valueString: 'x' })) }), 400, 'too many parameters');
  await expectError(await app.inject(`/fhir/ValueSet/$expand?filter=${'x'.repeat(5000)}&url=u`), 400, 'a huge filter');
  // A value set that imports itself, inline.
  const loop = { resourceType: 'ValueSet', url: 'http://x/loop', status: 'active', compose: { include: [{ valueSet: ['http://x/loop'] }] } };
  await expectError(await post(app, '/fhir/ValueSet/$expand', { resourceType: 'Parameters', parameter: [{ name: 'valueSet', resource: loop }] }), 400, 'a self-importing value set');
  // An inline code system too large to expand in full.
  const big = { resourceType: 'CodeSystem', id: 'big', url: 'http://x/big', status: 'active', content: 'complete', concept: Array.from({ length: 10_001 }, (_, i) => ({ code: `c${i}` })) };
  t.equal((await put(app, '/fhir/CodeSystem/big', big)).statusCode, 201);
  await expectError(await post(app, '/fhir/ValueSet/$expand', { resourceType: 'Parameters', parameter: [{ name: 'valueSet', resource: { resourceType: 'ValueSet', url: 'http://x/all', status: 'active', compose: { include: [{ system: 'http://x/big' }] } } }] }), 422, 'an expansion over 10,000 codes');
  const regex = { resourceType: 'ValueSet', url: 'http://x/re', status: 'active', compose: { include: [{ system: 'http://hl7.org/fhir/administrative-gender', filter: [{ property: 'code', op: 'regex', value: '(a+)+$' }] }] } };
  await expectError(await post(app, '/fhir/ValueSet/$expand', { resourceType: 'Parameters', parameter: [{ name: 'valueSet', resource: regex }] }), 422, 'a catastrophic regex');
  await expectError(await app.inject('/fhir/ValueSet/nope/$expand'), 404, 'unknown instance');
  // Concurrent expansions answer alike.
  const many = await Promise.all(Array.from({ length: 20 }, () => app.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender')));
  t.ok(many.every((r) => r.statusCode === 200 && JSON.parse(r.body).expansion.total === 4), 'concurrent expansions agree');
});

t.test('terminology operations need read access on the terminology types', async (t) => {
  const app = await authApp(t);
  await seedClinic(app);
  const reader = withToken(app, await userToken(app, 'app', 'alice', 'launch/patient patient/*.cruds user/ValueSet.rs user/CodeSystem.rs'));
  t.equal((await reader.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender')).statusCode, 200);
  const noScope = withToken(app, await userToken(app, 'app2', 'alice', 'launch/patient patient/Observation.rs'));
  t.equal((await noScope.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender')).statusCode, 403);
  t.equal((await noScope.inject('/fhir/CodeSystem/$lookup?system=http://hl7.org/fhir/administrative-gender&code=male')).statusCode, 403);
  t.equal((await noScope.inject('/fhir/ConceptMap/$translate?system=a&code=b')).statusCode, 403);
});

t.test('the CapabilityStatement lists the terminology operations', async (t) => {
  const app = await testApp(t);
  const cs = body(await app.inject('/fhir/metadata'));
  const ops = (type: string) => (cs.rest[0].resource.find((r: { type: string }) => r.type === type).operation as { name: string }[]).map((o) => o.name);
  t.ok(['lookup', 'validate-code', 'subsumes'].every((o) => ops('CodeSystem').includes(o)));
  t.ok(['expand', 'validate-code'].every((o) => ops('ValueSet').includes(o)));
  t.ok(ops('ConceptMap').includes('translate'));
});
