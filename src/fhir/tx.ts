// Running engine work as one store transaction, with side effects (reindex jobs after a
// SearchParameter write) deferred until the transaction has committed.
import type { FhirContext } from './context.js';

export async function inTransaction<T>(ctx: FhirContext, fn: (tx: FhirContext) => Promise<T>): Promise<T> {
  if (ctx.deferred) return fn(ctx); // already inside one: join it
  let deferred: (() => void)[] = [];
  const result = await ctx.store.transaction((store) => {
    // A store may run the body again (MongoDB retries a transaction on a write conflict): only
    // the effects of the attempt that committed count.
    deferred = [];
    return fn({ ...ctx, store, deferred });
  });
  for (const effect of deferred) effect();
  return result;
}

/** Runs `effect` now, or after the enclosing transaction commits. */
export function afterCommit(ctx: FhirContext, effect: () => void): void {
  if (ctx.deferred) ctx.deferred.push(effect);
  else effect();
}
