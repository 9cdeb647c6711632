// The clinic operations are declared: in the CapabilityStatement, with OperationDefinitions that
// are served and that Flint's own validation accepts.
import t from 'tap';
import { testApp, body, post } from '../helpers/app.js';

t.test('the CapabilityStatement names each clinic operation and its definition resolves', async (t) => {
  const app = await testApp(t);
  const cs = body(await app.inject('/fhir/metadata'));
  const rest = cs.rest[0];
  // The clinic's own operations (the engine's $everything and $validate are listed too).
  const ops = (type: string) => (rest.resource.find((r: any) => r.type === type)?.operation ?? [])
    .filter((o: any) => o.name !== 'everything' && o.name !== 'validate').map((o: any) => [o.name, o.definition]);
  t.same(ops('Encounter'), [
    ['charge', 'http://flint.test/fhir/OperationDefinition/Encounter-charge'],
    ['bill', 'http://flint.test/fhir/OperationDefinition/Encounter-bill'],
  ]);
  t.same(ops('Claim'), [
    ['submit-to-payer', 'http://flint.test/fhir/OperationDefinition/Claim-submit-to-payer'],
    ['submit', 'http://hl7.org/fhir/OperationDefinition/Claim-submit'],
  ]);
  t.ok(rest.operation.some((o: any) => o.name === 'reindex'), 'the existing system operations stay');
  t.ok(rest.resource.find((r: any) => r.type === 'Patient').operation.some((o: any) => o.name === 'everything'), 'and the type operations');
  const report = rest.operation.find((o: any) => o.name === 'practice-report');
  t.equal(report?.definition, 'http://flint.test/fhir/OperationDefinition/practice-report');
  for (const [, url] of [...ops('Encounter'), ops('Claim')[0], ['', report?.definition]]) {
    const path = new URL(url).pathname;
    const res = await app.inject(path);
    t.equal(res.statusCode, 200, path);
    const def = body(res);
    t.equal(def.resourceType, 'OperationDefinition');
    t.equal(def.url, url, 'its canonical is where it is served');
    // The definition is valid FHIR by Flint's own validation: storing a copy is accepted.
    const { id: _id, ...copy } = def;
    void _id;
    t.equal((await post(app, '/fhir/OperationDefinition', copy)).statusCode, 201, `${def.id} validates`);
  }
  t.equal((await app.inject('/fhir/OperationDefinition/Encounter-charge')).statusCode, 200, 'served, not shadowed by the stored copies');
});
