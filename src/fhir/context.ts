// What every interaction receives: the store, the definitions, a few settings, the caller's
// access policy and the write hooks. No HTTP. The shapes the context carries are declared here
// (not in access.ts or workflow/hooks.ts, which import the context), so no import cycle forms.
import type { Resource } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';
import type { OutboxAppend, Store } from '../store/port.js';
import type { SearchParser } from '../search/parse.js';
import type { SearchParams } from '../search/params.js';
import type { Subsetter } from './summary.js';
import type { ReindexJobs } from './reindex.js';

export type Perm = 'c' | 'r' | 'u' | 'd' | 's';

export interface AccessRule {
  level: 'patient' | 'user' | 'system';
  /** A resource type or `*`. */
  type: string;
  perms: ReadonlySet<string>;
  /** Granular scope query (`category=http://…|laboratory`), verbatim. */
  query?: string;
}

/** The caller's access policy (src/fhir/access.ts enforces it). */
export interface AccessPolicy {
  rules: readonly AccessRule[];
  /** Patient in context: patient/ rules are confined to its compartment. */
  patient?: string;
  /** The signed-in user's own Patient, when the user is a patient: user/ rules are confined to it. */
  userPatient?: string;
  /** The user's FHIR resource (`Practitioner/1`), readable whenever fhirUser was granted. */
  fhirUser?: string;
  /** May run administrative operations ($reindex). */
  admin?: boolean;
  /** The OAuth client the token was issued to: asynchronous results ($export) are its alone. */
  clientId?: string;
}

export interface WriteChange {
  readonly type: string;
  readonly id: string;
  /** The current version before the write; undefined when the resource did not exist. */
  readonly previous?: Resource;
  /** The version written; undefined for a deletion. */
  readonly current?: Resource;
}

/** A business rule run inside the transaction of a write of its types (src/fhir/workflow/hooks.ts). */
export interface WriteHook {
  /** The resource types whose writes trigger the hook. */
  readonly types: readonly string[];
  /**
   * Runs inside the write transaction. `ctx` is transactional and carries the caller's access
   * policy; a hook decides itself whether its own writes are done as the system (see systemContext).
   */
  onWrite(ctx: FhirContext, change: WriteChange): Promise<void>;
  /**
   * Whether a write of `resource` (undefined: a deletion; `create`: a new resource, so there is
   * no previous version) may concern the hook at all; when no
   * hook wants it the write runs as a plain write (no transaction of its own, group commit kept).
   */
  wants?(resource: Resource | undefined, create: boolean): boolean;
  /**
   * The hook's whole work for a write of `type`, done synchronously inside the store's own write
   * when the store offers it (Store.followUps): the write then keeps group commit. `inline`
   * answers the notifications to record with the write and an effect for after its commit, or
   * undefined when this write needs `onWrite` in a transaction after all (the write is then undone
   * and made again that way). `generation` is the outbox generation read with the write.
   */
  inline?: {
    handles(type: string): boolean;
    run(change: WriteChange, generation: string): { appends: OutboxAppend[]; after?: () => void } | undefined;
  };
}
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
  /** Inside a transaction (src/fhir/tx.ts, afterCommit): effects to run once it commits. */
  readonly deferred?: (() => void)[];
  /** Inside a transaction Bundle (src/fhir/tx.ts, atEndOfBundle): checks to run once every entry is written. */
  readonly checks?: (() => Promise<void>)[];
  readonly integrity: 'lenient' | 'strict';
  /** The caller's access policy; absent for unrestricted callers (AUTH=off, internal jobs). */
  readonly access?: AccessPolicy;
  /** The client a request runs for (set by the HTTP layer): searches queued for threads take turns between them. */
  readonly lane?: string;
  readonly limits: {
    readonly bundleEntries: number;
    /** Largest batch/transaction response, in bytes of JSON (BUNDLE_RESPONSE_LIMIT). */
    readonly bundleResponseBytes: number;
  };
  /** Business rules run inside the transaction of a write of their types (src/fhir/workflow/hooks.ts). */
  readonly hooks?: readonly WriteHook[];
  /** CodeSystems, ValueSets and ConceptMaps of the definitions and the store (src/terminology). */
  readonly terminology?: TerminologyService;
}
