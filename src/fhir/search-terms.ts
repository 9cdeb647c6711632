// The terminology a search needs, fetched before it is parsed (the parser is synchronous): the
// value sets named by :in / :not-in and the code systems of :above / :below, from the
// definitions and from what was stored through the API (src/terminology/service.ts), with the
// value sets and code systems they import. R4 search.html#token.
import type { Resource, ValueSet } from 'fhir/r4.js';
import type { FhirContext } from './context.js';
import type { QueryPairs } from '../fhir-basics/query.js';
import { splitValues } from '../search/parse.js';
import { TerminologyError, type TerminologySource } from '../terminology/expand.js';
import { badRequest } from './errors.js';
import { isId } from '../fhir-basics/ids.js';
import { storedResource } from '../fhir-basics/stored.js';
import { storeCall } from './store-errors.js';
import { requirePerm } from './access.js';

/** The modifier that ends a (possibly chained) parameter name: `code:in`, `subject:Patient.code:below`. */
function modifierOf(name: string): string | undefined {
  const last = name.slice(name.lastIndexOf('.') + 1);
  const at = last.lastIndexOf(':');
  return at < 0 ? undefined : last.slice(at + 1);
}

/** `ValueSet/123`: a value set stored here, named by its id rather than its canonical url. */
const LITERAL = /^ValueSet\/([^/|]+)$/;

/**
 * A source holding what the search's terminology modifiers need; undefined when it has none
 * (the parser then uses the definitions alone).
 */
export async function searchTerminology(ctx: FhirContext, params: QueryPairs): Promise<TerminologySource | undefined> {
  const service = ctx.terminology;
  if (!service) return undefined;
  const valueSets: string[] = [];
  const codeSystems: string[] = [];
  for (const [name, value] of params) {
    const modifier = modifierOf(name);
    if (modifier === 'in' || modifier === 'not-in') valueSets.push(...splitValues(value).filter(Boolean));
    else if (modifier === 'below' || modifier === 'above') {
      for (const v of splitValues(value)) {
        // Only token values (system|code) name a code system; uri :below/:above values do not.
        const bar = v.indexOf('|');
        if (bar > 0) codeSystems.push(v.slice(0, bar));
      }
    }
  }
  if (valueSets.length === 0 && codeSystems.length === 0) return undefined;
  const literal = new Map<string, ValueSet>();
  for (const ref of valueSets) {
    const m = LITERAL.exec(ref);
    const id = m?.[1];
    if (id === undefined || !isId(id) || literal.has(ref)) continue;
    // Read by id like any read: the caller needs read access to ValueSets.
    requirePerm(ctx, 'r', 'ValueSet');
    const got = await storeCall(() => ctx.store.read('ValueSet', id));
    const vs = got.status === 'found' ? storedResource<Resource>(got.record) : undefined;
    if (vs?.resourceType === 'ValueSet') literal.set(ref, vs as ValueSet);
  }
  let source: TerminologySource;
  try {
    source = await service.sourceFor({
      valueSets: valueSets.filter((r) => !literal.has(r)).slice(0, 100),
      codeSystems: [...new Set(codeSystems)].slice(0, 100),
      extra: [...literal.values()],
    });
  } catch (err) {
    if (err instanceof TerminologyError) throw badRequest(err.message, err.code === 'too-costly' ? 'too-costly' : 'not-supported');
    throw err;
  }
  if (literal.size === 0) return source;
  return {
    codeSystem: (url, version) => source.codeSystem(url, version),
    valueSet: (url, version) => literal.get(url) ?? source.valueSet(url, version),
  };
}
