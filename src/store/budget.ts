// The time budget of one search (SEARCH_TIMEOUT_MS): adapters check it between the steps of a
// search and MongoDB also enforces it on the server (maxTimeMS). Past it, the search is stopped
// and answered 403 too-costly (R4 operationoutcome.html issue type too-costly).
import { StoreError } from './port.js';

export class Budget {
  private readonly deadline: number;

  /** `ms` undefined: no budget. */
  constructor(private readonly ms: number | undefined) {
    this.deadline = ms === undefined ? Infinity : performance.now() + ms;
  }

  /** Milliseconds left (at least 1), or undefined without a budget: for MongoDB's maxTimeMS. */
  remaining(): number | undefined {
    return this.ms === undefined ? undefined : Math.max(1, Math.ceil(this.deadline - performance.now()));
  }

  /** Throws too-costly once the budget is spent. */
  check(): void {
    if (performance.now() > this.deadline) {
      throw new StoreError('too-costly', `the search ran past its time budget of ${this.ms} ms (SEARCH_TIMEOUT_MS); narrow it down`);
    }
  }
}
