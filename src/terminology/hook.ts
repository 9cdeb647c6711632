// Keeps the terminology service's cache of stored resources true: a write of a CodeSystem,
// ValueSet or ConceptMap forgets its url(s), now and again once the write has committed.
import type { FhirContext } from '../fhir/context.js';
import type { WriteChange, WriteHook } from '../fhir/workflow/hooks.js';
import { afterCommit } from '../fhir/tx.js';
import type { TerminologyService } from './service.js';

export function invalidationHook(service: TerminologyService): WriteHook {
  return {
    types: ['CodeSystem', 'ValueSet', 'ConceptMap'],
    async onWrite(ctx: FhirContext, change: WriteChange): Promise<void> {
      const urls = new Set<string>();
      for (const r of [change.previous, change.current]) {
        const url = (r as { url?: unknown } | undefined)?.url;
        if (typeof url === 'string') urls.add(url);
      }
      const forget = (): void => {
        for (const u of urls) service.invalidate(change.type, u);
      };
      // Now (so this transaction's later reads miss the cache) and after commit (so a read
      // that cached the old version meanwhile is forgotten too).
      forget();
      afterCommit(ctx, forget);
    },
  };
}
