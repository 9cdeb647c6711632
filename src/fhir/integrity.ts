// Referential integrity, a documented switch (REFERENTIAL_INTEGRITY): lenient by default (a lab
// may post an Observation before its Patient exists); strict refuses a write whose local
// references point at nothing (422) and the deletion of a resource that others reference (409).
import type { Resource } from 'fhir/r4.js';
import type { FhirContext } from './context.js';
import { FhirError } from './errors.js';
import { localReferences } from './references.js';
import { issue } from '../fhir-basics/outcome.js';
import { storeCall } from './store-errors.js';
import { atEndOfBundle } from './tx.js';

export type IntegrityMode = 'lenient' | 'strict';

/**
 * Strict mode: every local reference resolves to a live resource. Inside a transaction the
 * check runs when all entries are written (targets may be created later in the Bundle).
 */
export async function checkReferences(ctx: FhirContext, resource: Resource): Promise<void> {
  if (ctx.integrity !== 'strict') return;
  const refs = localReferences(resource, ctx.baseUrl, resource.resourceType)
    .filter((r) => !(r.type === resource.resourceType && r.id === resource.id));
  if (refs.length === 0) return;
  const check = async (): Promise<void> => {
    const missing = [];
    for (const r of refs) {
      const found = await storeCall(() => ctx.store.read(r.type, r.id));
      if (found.status !== 'found') missing.push(r);
    }
    if (missing.length) {
      throw new FhirError(422, missing.map((r) => issue('error', 'not-found', `${r.type}/${r.id} does not exist (referential integrity is strict)`, r.path)));
    }
  };
  await atEndOfBundle(ctx, check);
}

/** Strict mode: a deleted resource must not be referenced by any live resource (409). */
export async function checkNotReferenced(ctx: FhirContext, type: string, id: string): Promise<void> {
  if (ctx.integrity !== 'strict') return;
  const check = async (): Promise<void> => {
    const from = await storeCall(() => ctx.store.referencesTo(type, id, 5));
    if (from.length) {
      const list = from.map((r) => `${r.type}/${r.id}`).join(', ');
      throw new FhirError(409, `${type}/${id} is referenced by ${list}${from.length === 5 ? ' and maybe more' : ''}; delete or change those first (referential integrity is strict)`, 'conflict');
    }
  };
  await atEndOfBundle(ctx, check);
}
