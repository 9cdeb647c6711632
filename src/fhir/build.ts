// Assembles the engine's context: definitions, the search machinery and the store, wired in
// the one order that works (the store indexes with the search module's extractor).
import type { Definitions } from '../definitions/registry.js';
import type { Store } from '../store/port.js';
import { openStore, type DatabaseTarget } from '../store/open.js';
import { SearchParams } from '../search/params.js';
import { SearchParser } from '../search/parse.js';
import { Indexer } from '../search/extract.js';
import { Subsetter } from './summary.js';
import type { FhirContext } from './context.js';
import { ReindexJobs } from './reindex.js';
import { loadStoredSearchParameters } from './custom-params.js';
import type { WriteHook } from './workflow/hooks.js';
import { TerminologyService } from '../terminology/service.js';
import { invalidationHook } from '../terminology/hook.js';
import { storedResource } from '../fhir-basics/stored.js';
import type { Resource } from 'fhir/r4.js';

export interface EngineOptions {
  defs: Definitions;
  baseUrl: string;
  database: DatabaseTarget;
  paging: { defaultCount: number; maxCount: number };
  readCacheEntries?: number;
  synchronous?: 'FULL' | 'NORMAL';
  integrity?: 'lenient' | 'strict';
  bundleEntries?: number;
  /** A store to use instead of opening `database` (it must index with `indexerFor`). */
  store?: (indexer: Indexer) => Store | Promise<Store>;
  /** Write hooks (business rules run inside write transactions), from the composition root. */
  hooks?: readonly WriteHook[];
}

export async function createEngine(opts: EngineOptions): Promise<FhirContext> {
  const params = new SearchParams(opts.defs);
  const indexer = new Indexer(opts.defs, opts.baseUrl, params);
  const parser = new SearchParser(opts.defs, params);
  parser.setBaseUrl(opts.baseUrl);
  const store = opts.store
    ? await opts.store(indexer)
    : await openStore(opts.database, {
      indexer,
      ...(opts.readCacheEntries !== undefined ? { readCacheEntries: opts.readCacheEntries } : {}),
      ...(opts.synchronous ? { synchronous: opts.synchronous } : {}),
    });
  const terminology = new TerminologyService(opts.defs);
  // Stored CodeSystems/ValueSets/ConceptMaps by search parameter (url, source-system…), as the system.
  terminology.attach(async (type, params) => {
    const parsed = parser.parse({ types: [type], params, handling: 'strict', defaultCount: 50, maxCount: 50 });
    const page = await store.search(parsed.query);
    return page.records.map((r) => storedResource<Resource>(r)).filter((r): r is Resource => r !== undefined);
  });
  const hooks = [...(opts.hooks ?? []), invalidationHook(terminology)];
  const ctx: FhirContext = {
    store,
    defs: opts.defs,
    baseUrl: opts.baseUrl,
    paging: opts.paging,
    search: { params, parser, subsetter: new Subsetter(opts.defs) },
    jobs: new ReindexJobs(() => store),
    integrity: opts.integrity ?? 'lenient',
    limits: { bundleEntries: opts.bundleEntries ?? 10_000 },
    hooks,
    terminology,
  };
  await loadStoredSearchParameters(ctx);
  return ctx;
}
