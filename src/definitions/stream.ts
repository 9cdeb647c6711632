// Reads a large definitions file one resource at a time. JSON.parse of a whole R4 Bundle (35 MB
// of profiles-resources.json) builds every resource with all its prose before any of it can be
// slimmed (slim.ts), and that peak is what the process's resident size keeps after start. Here
// the file stays bytes (outside the JS heap) and each Bundle entry, or each element of a
// top-level array, is parsed on its own, handed over, and becomes garbage young.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** A Bundle starts with its resourceType in every file the R4 package ships. */
const BUNDLE_START = /^\s*\{\s*"resourceType"\s*:\s*"Bundle"/;

/**
 * Calls `each` with every object (or array) element of the array that is the value of `key` in
 * the top-level object (`key` undefined: of the top-level array), each parsed on its own; other
 * elements are skipped. Strings are skipped whole, so brackets inside them do not count. For
 * trusted files only: a file cut short between two elements ends without an error. Returns how
 * many elements there were.
 */
export function eachElement(bytes: Buffer, key: string | undefined, each: (value: unknown) => void): number {
  const n = bytes.length;
  const target = key === undefined ? undefined : Buffer.from(JSON.stringify(key));
  // The depth at which the elements sit: 1 inside a top-level array, 2 inside the key's array.
  const elementDepth = key === undefined ? 1 : 2;
  let depth = 0;
  let inTarget = key === undefined;
  let lastKeyAt = -1;
  let lastKeyEnd = -1;
  let start = -1;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const from = i;
      for (i++; i < n; i++) {
        const d = bytes[i];
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
      if (depth === 1 && !inTarget) {
        lastKeyAt = from;
        lastKeyEnd = i + 1;
      }
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth === elementDepth && inTarget && start < 0) start = i;
      else if (depth === 1 && key !== undefined && c === OPEN_ARRAY && !inTarget && target
        && lastKeyEnd - lastKeyAt === target.length && bytes.compare(target, 0, target.length, lastKeyAt, lastKeyEnd) === 0) {
        inTarget = true;
      }
      depth++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      if (inTarget && depth === elementDepth && start >= 0) {
        each(JSON.parse(bytes.toString('utf8', start, i + 1)));
        count++;
        start = -1;
      } else if (inTarget && depth === elementDepth - 1) {
        if (key === undefined) break;
        inTarget = false;
      }
    }
  }
  return count;
}

/**
 * Every resource in a definitions file (the R4 package's, trusted: see eachElement): a Bundle's entries one by one, a top-level array's
 * elements one by one, or the one resource the file holds (parsed whole: such files are small).
 */
export function eachResourceIn(bytes: Buffer, each: (resource: unknown) => void): void {
  const head = bytes.toString('utf8', 0, Math.min(bytes.length, 200));
  if (BUNDLE_START.test(head)) {
    eachElement(bytes, 'entry', (entry) => {
      const resource = (entry as { resource?: unknown } | null)?.resource;
      if (resource !== undefined) each(resource);
    });
    return;
  }
  if (/^\s*\[/.test(head)) {
    eachElement(bytes, undefined, each);
    return;
  }
  each(JSON.parse(bytes.toString('utf8')));
}
