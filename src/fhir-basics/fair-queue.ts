// A queue with one lane per client, served in rotation: the HTTP edge (src/http/fair.ts) and
// the SQLite reader threads (src/store/sqlite/reader-pool.ts) take turns between clients with it,
// so that a client with many waiting items does not hold up one with a single item.

/** Waiting items in lanes, taken one from each lane in turn (insertion order of a Map is the rotation). */
export class FairQueue<T> {
  private readonly lanes = new Map<string, T[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  waiting(key: string): number {
    return this.lanes.get(key)?.length ?? 0;
  }

  push(key: string, item: T): void {
    const lane = this.lanes.get(key);
    if (lane) lane.push(item);
    else this.lanes.set(key, [item]);
    this.count++;
  }

  /** The first item of the lane whose turn it is; that lane goes to the back of the rotation. */
  shift(): { key: string; item: T } | undefined {
    const next = this.lanes.entries().next();
    if (next.done) return undefined;
    const [key, lane] = next.value;
    const item = lane.shift() as T;
    this.lanes.delete(key);
    if (lane.length > 0) this.lanes.set(key, lane);
    this.count--;
    return { key, item };
  }
}
