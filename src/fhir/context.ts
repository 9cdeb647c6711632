// What every interaction receives: the store, the definitions and a few settings. No HTTP.
import type { Definitions } from '../definitions/registry.js';
import type { Store } from '../store/port.js';
import type { SearchParser } from '../search/parse.js';
import type { SearchParams } from '../search/params.js';
import type { Subsetter } from './summary.js';
import type { ReindexJobs } from './reindex.js';
import type { AccessPolicy } from './access.js';
import type { WriteHook } from './workflow/hooks.js';
import type { TerminologyService } from '../terminology/service.js';

export interface FhirContext {
  readonly store: Store;
  readonly defs: Definitions;
  /** Public base URL of the FHIR endpoint, no trailing slash. */
  readonly baseUrl: string;
  readonly paging: { readonly defaultCount: number; readonly maxCount: number };
  readonly search: {
    readonly params: SearchParams;
    readonly parser: SearchParser;
    readonly subsetter: Subsetter;
  };
  /** Background reindex jobs (after SearchParameter changes). */
  readonly jobs: ReindexJobs;
  /** Inside a transaction (src/fhir/tx.ts): effects to run once it commits. */
  readonly deferred?: (() => void)[];
  /** Inside a transaction Bundle: integrity checks to run once every entry is written. */
  readonly checks?: (() => Promise<void>)[];
  readonly integrity: 'lenient' | 'strict';
  /** The caller's access policy; absent for unrestricted callers (AUTH=off, internal jobs). */
  readonly access?: AccessPolicy;
  readonly limits: { readonly bundleEntries: number };
  /** Business rules run inside the transaction of a write of their types (src/fhir/workflow/hooks.ts). */
  readonly hooks?: readonly WriteHook[];
  /** CodeSystems, ValueSets and ConceptMaps of the definitions and the store (src/terminology). */
  readonly terminology?: TerminologyService;
}
