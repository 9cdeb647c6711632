// Current versions by `type/id`, so that hot reads skip SQLite (its per-statement file locking
// is most of a read's cost). Valid because this process is the only writer (see claimOwnership
// in store.ts); writes replace entries when they commit, and rolled-back transactions drop theirs.
// Bounded by bytes, not entries: a count says nothing about memory when one Patient may weigh
// 5 MB and another 1 KB.
import type { VersionRecord } from '../port.js';

/** Rough cost of an entry besides its JSON: the key, the record object, the map slot. */
const ENTRY_OVERHEAD = 200;
/** No single version takes more than this share of the budget: one huge resource can't flush the rest. */
const LARGEST_SHARE = 8;

/** The bytes an entry is charged: its JSON as V8 holds it (one byte per char for Latin-1, else two). */
function cost(key: string, r: VersionRecord): number {
  const json = r.json ?? '';
  // eslint-disable-next-line no-control-regex
  const wide = /[^\u0000-\u00ff]/.test(json) ? 2 : 1;
  return ENTRY_OVERHEAD + key.length + json.length * wide;
}

export class ReadCache {
  private readonly map = new Map<string, { record: VersionRecord; bytes: number }>();
  private used = 0;

  /** `maxBytes`: the budget (READ_CACHE_BYTES); 0 turns the cache off. */
  constructor(private readonly maxBytes: number) {}

  /** Bytes charged to the entries held now. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): VersionRecord | undefined {
    return this.map.get(key)?.record;
  }

  set(key: string, record: VersionRecord): void {
    this.delete(key);
    if (this.maxBytes <= 0) return;
    const bytes = cost(key, record);
    if (bytes > this.maxBytes / LARGEST_SHARE) return;
    this.map.set(key, { record, bytes });
    this.used += bytes;
    // Oldest first (insertion order; a set moves an entry to the end).
    for (const [k, e] of this.map) {
      if (this.used <= this.maxBytes) break;
      this.map.delete(k);
      this.used -= e.bytes;
    }
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.used -= e.bytes;
  }
}
