// What every interaction receives: the store, the definitions and a few settings. No HTTP.
import type { Definitions } from '../definitions/registry.js';
import type { Store } from '../store/port.js';

export interface FhirContext {
  readonly store: Store;
  readonly defs: Definitions;
  /** Public base URL of the FHIR endpoint, no trailing slash. */
  readonly baseUrl: string;
  readonly paging: { readonly defaultCount: number; readonly maxCount: number };
}
