// String helpers both adapters use to turn prefix and hierarchy matches into index ranges.

/** Upper bound for a prefix range: the smallest string greater than every string starting with `s`. */
export function prefixEnd(s: string): string {
  return `${s}\u{10ffff}`;
}

/** A URI and each of its ancestors by path (uri:above). */
export function uriPrefixes(uri: string): string[] {
  const out: string[] = [];
  let cur = uri;
  while (cur.length > 0) {
    out.push(cur);
    const cut = cur.lastIndexOf('/');
    if (cut <= 0 || cur.slice(0, cut).endsWith('/')) break;
    cur = cur.slice(0, cut);
  }
  return out;
}
