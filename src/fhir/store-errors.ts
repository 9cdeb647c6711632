// Store failures in FHIR terms.
import { StoreError } from '../store/port.js';
import { FhirError, badRequest, conflict, preconditionFailed } from './errors.js';

/**
 * Runs a store call and maps its StoreErrors. A version conflict is 412 when the client sent
 * If-Match (R4 http.html#concurrency), 409 when the server's own check found a concurrent write.
 */
export function storeCall<T>(fn: () => Promise<T>, clientIfMatch = false): Promise<T> {
  // .catch rather than try/await: this wraps every read, and one promise less is measurable.
  return fn().catch((err: unknown) => {
    throw mapStoreError(err, clientIfMatch);
  });
}

export function mapStoreError(err: unknown, clientIfMatch = false): unknown {
  if (!(err instanceof StoreError)) return err;
  switch (err.code) {
    case 'version-conflict': return clientIfMatch ? preconditionFailed(err.message) : conflict(err.message);
    case 'invalid-cursor': return badRequest(err.message);
    case 'too-busy': return new FhirError(503, err.message, 'transient');
    case 'unavailable': return new FhirError(503, err.message, 'transient');
    case 'unsupported': return new FhirError(501, err.message, 'not-supported');
    // A search the store refuses to run at this breadth: the client can narrow it (R4 issue type too-costly).
    case 'too-costly': return new FhirError(403, err.message, 'too-costly');
    // A resource with more repeated elements than the search index takes (README: search limits).
    case 'unprocessable': return new FhirError(422, err.message, 'too-costly');
  }
}
