// Which slice an element belongs to (R4 profiling.html#discriminator): value, pattern, exists,
// type and profile discriminators, and R4's `value[x]:valueQuantity` shorthand for choices.
import { childrenOf, type CompiledProfile, type Rule } from './rules.js';
import { deepEqual, matchesPattern, navigate, splitPath } from './match.js';
import { isObject } from '../fhir-basics/json.js';

/** What slicing needs from the validator around it. */
export interface SliceProbe {
  /** A choice suffix's FHIR type: `DateTime` → `dateTime`. */
  typeOfSuffix(suffix: string): string;
  /** The profile discriminator's test: `value` meets the profile at `url` without errors. */
  conforms(url: string, value: unknown): boolean;
  /** Whether `value` is in the required value set of a binding (src/terminology through bindings.ts). */
  inValueSet?(binding: { strength: string; valueSet: string }, value: unknown, type: string): boolean;
}


/** Whether the element `value` (of FHIR type `type`) falls in `slice` of `owner`. */
export function inSlice(p: CompiledProfile, owner: Rule, slice: Rule, value: unknown, type: string, probe: SliceProbe): boolean {
  const discriminators = owner.slicing?.discriminator ?? [];
  if (discriminators.length === 0) {
    // R4 shorthand: value[x]:valueQuantity slices a choice by type.
    if (owner.choice) return slice.types.some((t) => t.code === type);
    return false;
  }
  // A slice may leave a value/pattern discriminator unconstrained (with two discriminators,
  // code.coding.system and code.coding.code, one slice fixes only the system): that
  // discriminator then says nothing about it. At least one must tell the slice apart.
  let decided = false;
  for (const d of discriminators) {
    const r = discriminates(p, slice, d.type, d.path, value, type, probe);
    if (r === false) return false;
    if (r === true) decided = true;
  }
  return decided;
}

/** true: in the slice by this discriminator; false: not; undefined: the slice does not constrain it. */
function discriminates(p: CompiledProfile, slice: Rule, kind: string, path: string, value: unknown, type: string, probe: SliceProbe): boolean | undefined {
  const target = ruleAt(p, slice, path);
  const found = path === '$this' ? [{ value, type }] : navigate(value, path);
  if (!found) return false;
  switch (kind) {
    case 'value':
    case 'pattern': {
      let expected = target?.fixed ?? target?.pattern;
      // An extension slice is told apart by url, which its definition fixes.
      if (!expected && splitPath(path).pop() === 'url') {
        const ext = slice.types.find((t) => t.code === 'Extension')?.profiles[0];
        if (ext) expected = { type: 'Uri', value: ext };
      }
      // A slice told apart by a required binding instead of a pattern (as IG publishers write them).
      if (!expected && target?.binding?.strength === 'required' && probe.inValueSet) {
        const b = target.binding;
        return found.some((f) => probe.inValueSet?.(b, f.value, f.type ?? type) ?? false);
      }
      if (!expected) return undefined;
      const want = expected.value;
      const exact = target?.fixed !== undefined;
      return found.some((f) => (exact ? deepEqual(f.value, want) : matchesPattern(f.value, want)));
    }
    case 'exists': {
      const shouldExist = target ? target.min > 0 : false;
      return (found.length > 0) === shouldExist;
    }
    case 'type': {
      if (!target) return false;
      return found.some((f) => {
        const t = path === '$this' ? type
          : f.type ? probe.typeOfSuffix(f.type)
            : isObject(f.value) && typeof f.value.resourceType === 'string' ? f.value.resourceType : undefined;
        return t !== undefined && target.types.some((x) => x.code === t);
      });
    }
    case 'profile': {
      const urls = target?.types.flatMap((t) => t.profiles) ?? [];
      return found.some((f) => urls.some((u) => probe.conforms(u, f.value)));
    }
    default:
      return false;
  }
}

/** The rule a discriminator path leads to inside a slice (`code.coding.system`, `$this`, `extension('u')`). */
function ruleAt(p: CompiledProfile, slice: Rule, path: string): Rule | undefined {
  let r: Rule | undefined = slice;
  for (const step of splitPath(path)) {
    if (!r) return undefined;
    if (step === '$this') continue;
    const ext = /^extension\('([^']*)'\)$/.exec(step);
    const kids: readonly Rule[] = childrenOf(p, r);
    if (ext) {
      const e = kids.find((k) => k.name === 'extension');
      r = e?.slices.find((s) => s.types.some((t) => t.profiles.includes(ext[1] ?? '')));
      continue;
    }
    r = kids.find((k) => k.name === step) ?? kids.find((k) => k.choice && step.startsWith(k.name));
  }
  return r;
}
