// The change order of the MongoDB adapter without a counter document: every Flint process
// assigns order values from its own hybrid logical clock (wall-clock milliseconds × 1024 plus a
// counter), so writes spread over the cluster instead of meeting on one hot document. Values
// from one process strictly increase; a write also moves past the value of the version it
// replaces, so one resource's versions (and their lastUpdated) never go backwards even when
// another instance's clock is ahead. Two processes may assign the same value: every ordered read
// breaks that tie by the resource's type and id (README.md, "Change order").

/** Order values per millisecond: 10 bits of counter (2^53 / 1024 ms is past the year 2200). */
export const PER_MS = 1024;

/**
 * Longest a write may take from its order value to its commit (MongoDB aborts a transaction
 * after `transactionLifetimeLimitSeconds`, 60 s by default); a write still uncommitted past it
 * is refused before it commits.
 */
export const WRITE_WINDOW_MS = 60_000;

/** Largest clock difference assumed between Flint instances (keep their clocks on NTP). */
export const CLOCK_SKEW_MS = 5_000;

/** How far behind "now" the stable point lies: a write window plus the skew both ways. */
export const SETTLE_MS = WRITE_WINDOW_MS + 2 * CLOCK_SKEW_MS;

/** The lastUpdated instant an order value stands for. */
export function instantOf(seq: number): string {
  return new Date(Math.floor(seq / PER_MS)).toISOString();
}

/** The largest order value at or before the instant (ms): everything of that millisecond. */
export function lastOfMs(ms: number): number {
  return ms * PER_MS + PER_MS - 1;
}

/** The milliseconds an order value was taken at. */
export function msOf(seq: number): number {
  return Math.floor(seq / PER_MS);
}

/**
 * A point in the change order before which nothing new can appear: every version with
 * `seq <= seq` is visible now (or was refused), and every later write gets a larger value.
 * `time` is the lastUpdated of the latest such version at most (a Bulk Data transactionTime).
 */
export interface StablePoint {
  readonly seq: number;
  readonly time: string;
}

export class OrderClock {
  private last = 0;

  /** `now`: the wall clock in ms (tests pass a frozen or skewed one). */
  constructor(readonly now: () => number = Date.now) {}

  /**
   * The next value: past the wall clock, past every value this process gave, and past `after`
   * (the order value of the version being replaced, or the highest in the database at start).
   */
  next(after = 0): number {
    const v = Math.max(this.now() * PER_MS, this.last + 1, after + 1);
    this.last = v;
    return v;
  }

  /**
   * A value for a version another store wrote at `ms` (Store.restore): at that millisecond when
   * the values already given and `after` allow, else just past them, so restored versions keep
   * the order they are restored in.
   */
  at(ms: number, after = 0): number {
    const v = Math.max(ms * PER_MS, this.last + 1, after + 1);
    this.last = v;
    return v;
  }

  /** Moves past a value seen elsewhere without taking one (at start: the highest stored). */
  observe(seq: number): void {
    if (seq > this.last) this.last = seq;
  }

  /**
   * True when a write begun at `startedMs` (this clock) has run past the write window and must
   * not commit: its order values are at least its start, so a stable point taken a settle
   * window later can count on it being committed or refused.
   */
  expired(startedMs: number, windowMs = WRITE_WINDOW_MS): boolean {
    return this.now() - startedMs > windowMs;
  }

  /** The stable point as of now (see StablePoint), `settleMs` behind this process's clock. */
  stable(settleMs = SETTLE_MS): StablePoint {
    const ms = this.now() - settleMs;
    return { seq: lastOfMs(ms), time: new Date(ms).toISOString() };
  }
}
