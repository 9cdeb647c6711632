// How an access constraint (search/ir.ts) applies to rows of given types: the policy part of
// "what may this caller see", shared by the adapters, which compile it into their own queries.
import type { AccessConstraint, CompartmentConstraint, Expr } from '../search/ir.js';

/** A type whose rows are visible only under conditions. */
export interface RestrictedType {
  type: string;
  /** Rows must be in this compartment. */
  compartment?: CompartmentConstraint;
  /** Rows must match this filter (granular scopes); it is the policy itself, not filtered again. */
  filter?: Expr;
}

/**
 * Splits `types` into those visible without condition (`plain`) and those visible under
 * conditions; a type in neither is invisible.
 */
export function visibility(access: AccessConstraint, types: readonly string[]): { plain: string[]; restricted: RestrictedType[] } {
  const plain: string[] = [];
  const restricted: RestrictedType[] = [];
  const c = access.compartment;
  for (const type of types) {
    const ta = access.types[type] ?? access.otherTypes;
    if (!ta) continue;
    // Types the compartment definition does not cover (Practitioner, Medication…) are not confined.
    const confined = ta.inCompartment && c !== undefined && (type === c.type || (c.params[type]?.length ?? 0) > 0);
    if (!confined && !ta.filter) plain.push(type);
    else restricted.push({ type, ...(confined ? { compartment: c } : {}), ...(ta.filter ? { filter: ta.filter } : {}) });
  }
  return { plain, restricted };
}
