// Assembles the engine's context from what the composition root (src/app.ts) hands it: the
// definitions, the search machinery and an open Store. The engine never opens a store itself.
import type { Definitions } from '../definitions/registry.js';
import type { Store } from '../store/port.js';
import { SearchParams } from '../search/params.js';
import { SearchParser } from '../search/parse.js';
import { Indexer } from '../search/extract.js';
import { Subsetter } from './summary.js';
import type { FhirContext, WriteHook } from './context.js';
import { ReindexJobs } from './reindex.js';
import { loadStoredSearchParameters } from './custom-params.js';

/** The search machinery of a set of definitions; the store indexes with its `indexer`. */
export interface SearchMachinery {
  readonly params: SearchParams;
  readonly parser: SearchParser;
  readonly indexer: Indexer;
}

export function searchMachinery(defs: Definitions, baseUrl: string): SearchMachinery {
  const params = new SearchParams(defs);
  const parser = new SearchParser(defs, params);
  parser.setBaseUrl(baseUrl);
  return { params, parser, indexer: new Indexer(defs, baseUrl, params) };
}
import { TerminologyService } from '../terminology/service.js';
import { invalidationHook } from '../terminology/hook.js';
import { storedResource } from '../fhir-basics/stored.js';
import type { Resource } from 'fhir/r4.js';

export interface EngineOptions {
  defs: Definitions;
  baseUrl: string;
  /** Built by searchMachinery(defs, baseUrl); the store was opened with its indexer. */
  search: SearchMachinery;
  store: Store;
  paging: { defaultCount: number; maxCount: number };
  integrity?: 'lenient' | 'strict';
  bundleEntries?: number;
  /** Largest batch/transaction response, in bytes of JSON. */
  bundleResponseBytes?: number;
  /** Write hooks (business rules run inside write transactions), from the composition root. */
  hooks?: readonly WriteHook[];
}

export const DEFAULT_BUNDLE_RESPONSE_BYTES = 32 * 1024 * 1024;

export async function createEngine(opts: EngineOptions): Promise<FhirContext> {
  const { store } = opts;
  const terminology = new TerminologyService(opts.defs);
  // Stored CodeSystems/ValueSets/ConceptMaps by search parameter (url, source-system…), as the system.
  terminology.attach(async (type, params) => {
    const parsed = opts.search.parser.parse({ types: [type], params, handling: 'strict', defaultCount: 50, maxCount: 50 });
    const page = await store.search(parsed.query);
    return page.records.map((r) => storedResource<Resource>(r)).filter((r): r is Resource => r !== undefined);
  });
  const hooks = [...(opts.hooks ?? []), invalidationHook(terminology)];
  const ctx: FhirContext = {
    store,
    defs: opts.defs,
    baseUrl: opts.baseUrl,
    paging: opts.paging,
    search: { params: opts.search.params, parser: opts.search.parser, subsetter: new Subsetter(opts.defs) },
    jobs: new ReindexJobs(() => store),
    integrity: opts.integrity ?? 'lenient',
    limits: { bundleEntries: opts.bundleEntries ?? 10_000, bundleResponseBytes: opts.bundleResponseBytes ?? DEFAULT_BUNDLE_RESPONSE_BYTES },
    hooks,
    terminology,
  };
  await loadStoredSearchParameters(ctx);
  return ctx;
}
