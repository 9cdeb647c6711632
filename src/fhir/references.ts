// References inside resources: rewriting temporary ids of a transaction (urn:uuid:…, urn:oid:…)
// and listing the local references a resource makes (for referential integrity).
import { parseLocalReference } from '../fhir-basics/references.js';

type Json = Record<string, unknown>;

/**
 * Returns a copy of `value` with every `reference` (at any depth: nested elements,
 * extensions, contained resources) found in `map` replaced by its target. Also rewrites
 * references that only embed a mapped id (`urn:uuid:x/_history/1` is not valid; left alone).
 */
export function rewriteReferences<T>(value: T, map: ReadonlyMap<string, string>): T {
  if (map.size === 0) return value;
  const walk = (v: unknown, key: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, key));
    if (v !== null && typeof v === 'object') {
      const out: Json = {};
      for (const [k, x] of Object.entries(v as Json)) out[k] = walk(x, k);
      return out;
    }
    if (typeof v === 'string' && key === 'reference') return map.get(v) ?? v;
    return v;
  };
  return walk(value, '') as T;
}

export interface LocalReference {
  type: string;
  id: string;
  /** FHIRPath-ish location, for messages. */
  path: string;
}

// The one reference parser (src/fhir-basics/references.ts), re-exported for the engine's callers.
export { parseLocalReference };

/** The references of a resource that point at a resource on this server (relative or under `baseUrl`). */
export function localReferences(resource: unknown, baseUrl: string, rootType: string): LocalReference[] {
  const out: LocalReference[] = [];
  const walk = (v: unknown, path: string, key: string): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`, key));
      return;
    }
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Json)) {
        // Contained resources are checked with their container; their own ids are local ("#x").
        walk(x, `${path}.${k}`, k);
      }
      return;
    }
    if (key !== 'reference' || typeof v !== 'string') return;
    const ref = parseLocalReference(v, baseUrl);
    if (ref) out.push({ type: ref.type, id: ref.id, path: path.replace(/\.reference$/, '') });
  };
  walk(resource, rootType, '');
  return out;
}
