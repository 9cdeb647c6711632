// The one home of "now, or later": engine work run as one store transaction, effects deferred
// until it commits (afterCommit: reindex jobs after a SearchParameter write), and checks deferred
// to the end of a transaction Bundle (atEndOfBundle: referential integrity, workflow rules whose
// targets may come later in the Bundle).
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

/**
 * Runs `check` now, or, inside a transaction Bundle, once every entry is written (before the
 * commit, so a failing check still undoes the whole Bundle; R4 http.html#trules).
 */
export async function atEndOfBundle(ctx: FhirContext, check: () => Promise<void>): Promise<void> {
  if (ctx.checks) ctx.checks.push(check);
  else await check();
}

/** A transaction Bundle: `fn` runs its entries, then the checks they deferred run, all in one transaction. */
export async function inBundleTransaction<T>(ctx: FhirContext, fn: (tx: FhirContext) => Promise<T>): Promise<T> {
  return inTransaction(ctx, async (tx) => {
    const checks: (() => Promise<void>)[] = [];
    const result = await fn({ ...tx, checks });
    // Checks may defer nothing further: they run against the Bundle's final state.
    for (const check of checks) await check();
    return result;
  });
}

/** A context outside any Bundle's deferral (the check runs at once), for dry runs such as $validate. */
export function withoutDeferral(ctx: FhirContext): FhirContext {
  if (!ctx.checks) return ctx;
  const { checks: _dropped, ...rest } = ctx;
  void _dropped;
  return rest;
}
