// Store failures become FHIR errors with the right status and issue code, whichever adapter raised them.
import t from 'tap';
import { mapStoreError } from '../../src/fhir/store-errors.js';
import { FhirError } from '../../src/fhir/errors.js';
import { StoreError } from '../../src/store/port.js';

t.test('each StoreError code has its HTTP status and OperationOutcome issue code', async (t) => {
  const cases: [ConstructorParameters<typeof StoreError>[0], number, string][] = [
    ['version-conflict', 409, 'conflict'], ['invalid-cursor', 400, 'invalid'], ['too-busy', 503, 'transient'],
    ['unavailable', 503, 'transient'], ['unsupported', 501, 'not-supported'], ['too-costly', 403, 'too-costly'],
  ];
  for (const [code, status, issueCode] of cases) {
    const out = mapStoreError(new StoreError(code, `a ${code} failure`));
    t.ok(out instanceof FhirError, code);
    const e = out as FhirError;
    t.equal(e.status, status, `${code} → ${status}`);
    t.equal(e.issues[0]?.code, issueCode);
    t.equal(e.issues[0]?.diagnostics, `a ${code} failure`);
  }
  const withIfMatch = mapStoreError(new StoreError('version-conflict', 'changed'), true) as FhirError;
  t.equal(withIfMatch.status, 412, 'a conflict with the client\'s If-Match is 412');
  const other = new Error('not a store error');
  t.equal(mapStoreError(other), other, 'other errors pass through');
});
