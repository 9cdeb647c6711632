// Reads a large definitions file one resource at a time. JSON.parse of a whole R4 Bundle (35 MB
// of profiles-resources.json) builds every resource with all its prose before any of it can be
// slimmed (slim.ts), and that peak is what the process's resident size keeps after start. Here
// the file is read in pieces of CHUNK bytes into one reused buffer, and each Bundle entry, or
// each element of a top-level array, is parsed on its own, handed over, and becomes garbage young.
import { closeSync, openSync, readSync } from 'node:fs';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const CHUNK = 1 << 20;
/** Keys longer than this are never the one looked for (`entry`). */
const KEY_MAX = 64;

/**
 * Finds the object (or array) elements of one array, in bytes fed piece by piece: the array
 * that is the value of `key` in the top-level object (`key` undefined: the top-level array).
 * Strings are skipped whole, so brackets inside them do not count. For trusted files only: a
 * file cut short between two elements ends without an error.
 */
export class ElementScanner {
  private readonly target: Buffer | undefined;
  /** The depth at which the elements sit: 1 inside a top-level array, 2 inside the key's array. */
  private readonly elementDepth: number;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private inTarget: boolean;
  private done = false;
  /** The bytes of the string being read at depth 1 (a key, perhaps), and of the last one read. */
  private key: number[] | undefined;
  private lastKey: number[] | undefined;
  /** The current element's bytes from earlier pieces (copied: the piece's buffer is reused). */
  private parts: Buffer[] = [];
  private inElement = false;
  count = 0;

  constructor(key: string | undefined, private readonly each: (value: unknown) => void) {
    this.target = key === undefined ? undefined : Buffer.from(key);
    this.elementDepth = key === undefined ? 1 : 2;
    this.inTarget = key === undefined;
  }

  /** Scans the next piece of the file; `bytes` may be overwritten once this returns. */
  feed(bytes: Buffer): void {
    const n = bytes.length;
    let from = 0;
    for (let i = 0; i < n && !this.done; i++) {
      const c = bytes[i] as number;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.key) {
            this.lastKey = this.key;
            this.key = undefined;
          }
          continue;
        }
        if (this.key && this.key.length <= KEY_MAX) this.key.push(c);
        continue;
      }
      if (c === QUOTE) {
        this.inString = true;
        if (this.depth === 1 && !this.inTarget) this.key = [];
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (this.depth === this.elementDepth && this.inTarget && !this.inElement) {
          this.inElement = true;
          from = i;
        } else if (this.depth === 1 && c === OPEN_ARRAY && !this.inTarget && this.isTargetKey()) {
          this.inTarget = true;
        }
        this.depth++;
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        this.depth--;
        if (this.inTarget && this.depth === this.elementDepth && this.inElement) {
          this.parts.push(bytes.subarray(from, i + 1));
          const text = this.parts.length === 1 ? (this.parts[0] as Buffer).toString('utf8') : Buffer.concat(this.parts).toString('utf8');
          this.parts = [];
          this.inElement = false;
          this.each(JSON.parse(text));
          this.count++;
        } else if (this.inTarget && this.depth === this.elementDepth - 1) {
          this.inTarget = false;
          if (!this.target) this.done = true;
        }
      }
    }
    if (this.inElement) {
      this.parts.push(Buffer.from(bytes.subarray(from)));
    }
  }

  private isTargetKey(): boolean {
    const k = this.lastKey;
    const t = this.target;
    if (!k || !t || k.length !== t.length) return false;
    for (let i = 0; i < t.length; i++) if (k[i] !== t[i]) return false;
    return true;
  }
}

/** Calls `each` with the elements of the array `key` (or the top-level array) in `bytes`; how many there were. */
export function eachElement(bytes: Buffer, key: string | undefined, each: (value: unknown) => void): number {
  const scanner = new ElementScanner(key, each);
  scanner.feed(bytes);
  return scanner.count;
}

/** What a definitions file holds, from its first bytes. */
function shapeOf(head: string): 'bundle' | 'array' | 'resource' {
  // Every Bundle the R4 package ships starts with its resourceType.
  if (/^\s*\{\s*"resourceType"\s*:\s*"Bundle"/.test(head)) return 'bundle';
  return /^\s*\[/.test(head) ? 'array' : 'resource';
}

function resourcesOf(shape: 'bundle' | 'array', each: (resource: unknown) => void): ElementScanner {
  if (shape === 'array') return new ElementScanner(undefined, each);
  return new ElementScanner('entry', (entry) => {
    const resource = (entry as { resource?: unknown } | null)?.resource;
    if (resource !== undefined) each(resource);
  });
}

/**
 * Every resource in a definitions file (the R4 package's, trusted: see ElementScanner): a
 * Bundle's entries one by one, a top-level array's elements one by one, or the one resource the
 * file holds (parsed whole: such files are small).
 */
export function eachResourceIn(bytes: Buffer, each: (resource: unknown) => void): void {
  const shape = shapeOf(bytes.toString('utf8', 0, Math.min(bytes.length, 200)));
  if (shape === 'resource') each(JSON.parse(bytes.toString('utf8')));
  else resourcesOf(shape, each).feed(bytes);
}

/** eachResourceIn for a file, read CHUNK bytes at a time: the whole file is never in memory. */
export function eachResourceInFile(path: string, each: (resource: unknown) => void): void {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(CHUNK);
    let got = readSync(fd, chunk, 0, CHUNK, null);
    const shape = shapeOf(chunk.toString('utf8', 0, Math.min(got, 200)));
    if (shape === 'resource') {
      const parts: Buffer[] = [];
      while (got > 0) {
        parts.push(Buffer.from(chunk.subarray(0, got)));
        got = readSync(fd, chunk, 0, CHUNK, null);
      }
      each(JSON.parse(Buffer.concat(parts).toString('utf8')));
      return;
    }
    const scanner = resourcesOf(shape, each);
    while (got > 0) {
      scanner.feed(chunk.subarray(0, got));
      got = readSync(fd, chunk, 0, CHUNK, null);
    }
  } finally {
    closeSync(fd);
  }
}
