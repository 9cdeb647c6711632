// A resource's index entries for a write, with the extractor's size limit as a store refusal.
import type { Resource } from 'fhir/r4.js';
import { IndexLimitError, type ResourceIndex } from '../search/extract.js';
import { StoreError, type StoreIndexer } from './port.js';

/** The entries to index `resource` with; a resource beyond MAX_INDEX_ENTRIES is refused (422). */
export function entriesFor(indexer: StoreIndexer, resource: Resource): ResourceIndex {
  try {
    return indexer.extract(resource);
  } catch (err) {
    if (err instanceof IndexLimitError) throw new StoreError('unprocessable', err.message);
    throw err;
  }
}
