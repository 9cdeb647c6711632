// How a job file's text is cut into stored chunks (both adapters): small enough that a chunk
// document stays far below MongoDB's 16 MB document limit and a reader holds one chunk at a
// time, large enough that an export file is not millions of rows.

/** UTF-16 code units per chunk: at most 3 UTF-8 bytes each, so a chunk is ≤ 768 KiB. */
export const CHUNK_UNITS = 256 * 1024;

/** `text` in pieces of at most `units` code units, never splitting a surrogate pair; [''] for ''. */
export function splitText(text: string, units = CHUNK_UNITS): string[] {
  if (text.length <= units) return [text];
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    let end = Math.min(at + units, text.length);
    // A high surrogate at the cut belongs with the low one after it.
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');
