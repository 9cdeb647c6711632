// Value comparisons of R4 ElementDefinition.fixed[x] and pattern[x] (R4 elementdefinition-
// definitions.html#ElementDefinition.fixed_x_ and #ElementDefinition.pattern_x_), and the small
// path navigation slicing discriminators use (R4 profiling.html#discriminator).

/** fixed[x]: the value must be exactly this, including every property (and no others). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => deepEqual(ao[k], bo[k]));
}

/**
 * pattern[x]: every property the pattern has must be in the value with the same content; the
 * value may have more. For repeating elements, each pattern item must match some value item.
 */
export function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) {
    const items = Array.isArray(value) ? value : [value];
    return pattern.every((p) => items.some((v) => matchesPattern(v, p)));
  }
  if (Array.isArray(value)) return value.some((v) => matchesPattern(v, pattern));
  if (typeof pattern !== 'object' || pattern === null) return value === pattern;
  if (typeof value !== 'object' || value === null) return false;
  const vo = value as Record<string, unknown>;
  const po = pattern as Record<string, unknown>;
  for (const k in po) {
    if (!matchesPattern(vo[k], po[k])) return false;
  }
  return true;
}

export interface Found {
  readonly value: unknown;
  /** The type suffix when the step named a choice element (`value` → `Quantity`, `DateTime`). */
  readonly type?: string;
}

const EXT_STEP = /^extension\('([^']*)'\)$/;

/**
 * The values at a discriminator path (`code`, `coding.system`, `$this`, `extension('url').value`),
 * or undefined for steps this navigation does not support (resolve(), ofType(), functions).
 */
export function navigate(root: unknown, path: string): Found[] | undefined {
  let current: Found[] = [{ value: root }];
  for (const step of splitPath(path)) {
    if (step === '$this') continue;
    const next: Found[] = [];
    const ext = EXT_STEP.exec(step);
    if (!ext && !/^[A-Za-z][A-Za-z0-9]*$/.test(step)) return undefined;
    for (const { value } of current) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
      const obj = value as Record<string, unknown>;
      if (ext) {
        const list = Array.isArray(obj.extension) ? obj.extension : [];
        for (const e of list) if ((e as { url?: unknown } | null)?.url === ext[1]) next.push({ value: e });
        continue;
      }
      const push = (v: unknown, type?: string): void => {
        for (const item of Array.isArray(v) ? v : [v]) if (item !== undefined && item !== null) next.push(type ? { value: item, type } : { value: item });
      };
      if (step in obj) {
        push(obj[step]);
        continue;
      }
      // A choice element is named without its type suffix in FHIRPath (value → valueQuantity).
      for (const key in obj) {
        if (key.length > step.length && key.startsWith(step) && /[A-Z]/.test(key.charAt(step.length))) {
          const suffix = key.slice(step.length);
          push(obj[key], key.slice(step.length));
        }
      }
    }
    current = next;
  }
  return current;
}

/** Splits a FHIRPath at top-level dots (not those inside `extension('…')`). */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const ch = path[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '.' && depth === 0) {
      out.push(path.slice(start, i));
      start = i + 1;
    }
  }
  out.push(path.slice(start));
  return out;
}
