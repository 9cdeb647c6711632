// REFERENTIAL_INTEGRITY: lenient by default, strict on request.
import t from 'tap';
import { testApp, post, put, body } from '../helpers/app.js';

const obs = (subject: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: subject } });

t.test('lenient (default): a lab may post an Observation before its Patient exists', async (t) => {
  const app = await testApp(t);
  t.equal((await post(app, '/fhir/Observation', obs('Patient/later'))).statusCode, 201);
  await put(app, '/fhir/Patient/p', { resourceType: 'Patient', id: 'p' });
  await post(app, '/fhir/Observation', obs('Patient/p'));
  t.equal((await app.inject({ method: 'DELETE', url: '/fhir/Patient/p' })).statusCode, 200, 'and a referenced resource can be deleted');
});

t.test('strict: dangling local references are refused with their location', async (t) => {
  const app = await testApp(t, { REFERENTIAL_INTEGRITY: 'strict' });
  const res = await post(app, '/fhir/Observation', obs('Patient/nobody'));
  t.equal(res.statusCode, 422);
  t.match(body(res).issue[0].diagnostics, /Patient\/nobody does not exist/);
  t.same(body(res).issue[0].expression, ['Observation.subject']);
  await put(app, '/fhir/Patient/p', { resourceType: 'Patient', id: 'p' });
  t.equal((await post(app, '/fhir/Observation', obs('Patient/p'))).statusCode, 201);
  t.equal((await post(app, '/fhir/Observation', obs('http://flint.test/fhir/Patient/p'))).statusCode, 201, 'absolute references to this server count');
  t.equal((await post(app, '/fhir/Observation', obs('http://elsewhere.org/fhir/Patient/x'))).statusCode, 201, 'references to other servers are not checked');
  const meta = body(await app.inject('/fhir/metadata'));
  t.ok(meta.rest[0].resource[0].referencePolicy.includes('enforced'));
});

t.test('strict: deleting a referenced resource is refused with 409', async (t) => {
  const app = await testApp(t, { REFERENTIAL_INTEGRITY: 'strict' });
  await put(app, '/fhir/Patient/p', { resourceType: 'Patient', id: 'p' });
  const o = body(await post(app, '/fhir/Observation', obs('Patient/p')));
  const res = await app.inject({ method: 'DELETE', url: '/fhir/Patient/p' });
  t.equal(res.statusCode, 409);
  t.match(body(res).issue[0].diagnostics, new RegExp(`Observation/${o.id}`));
  t.equal((await app.inject('/fhir/Patient/p')).statusCode, 200, 'nothing was deleted');
  await app.inject({ method: 'DELETE', url: `/fhir/Observation/${o.id}` });
  t.equal((await app.inject({ method: 'DELETE', url: '/fhir/Patient/p' })).statusCode, 200, 'once unreferenced it can go');
});

t.test('strict: inside a transaction, targets may come later in the Bundle; a dangling one fails it all', async (t) => {
  const app = await testApp(t, { REFERENTIAL_INTEGRITY: 'strict' });
  const ok = await post(app, '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: obs('Patient/made-here'), request: { method: 'POST', url: 'Observation' } },
    { resource: { resourceType: 'Patient', id: 'made-here' }, request: { method: 'PUT', url: 'Patient/made-here' } },
  ] });
  t.equal(ok.statusCode, 200);
  const bad = await post(app, '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: { resourceType: 'Patient', id: 'ok-one' }, request: { method: 'PUT', url: 'Patient/ok-one' } },
    { resource: obs('Patient/ghost'), request: { method: 'POST', url: 'Observation' } },
  ] });
  t.equal(bad.statusCode, 422);
  t.equal((await app.inject('/fhir/Patient/ok-one')).statusCode, 404, 'rolled back');
  const both = await post(app, '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'DELETE', url: 'Patient/made-here' } },
  ] });
  t.equal(both.statusCode, 409, 'still referenced by the Observation');
});
