// Keeps this instance's runtime SearchParameters in step with the database: another instance
// may add, change or delete one, and every instance must index its writes with the same
// parameters. A cheap look at the newest SearchParameter version (type history, one entry)
// each period; a full reload only when it changed.
import type { FhirContext } from '../fhir/context.js';
import { syncSearchParameters } from '../fhir/custom-params.js';

export interface Watcher {
  /** Checks now (tests; after start-up). */
  check(): Promise<void>;
  stop(): void;
}

export function watchSearchParameters(ctx: FhirContext, everyMs: number, onError: (err: unknown) => void): Watcher {
  let seen: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const newest = async (): Promise<string> => {
    const [r] = (await ctx.store.history({ type: 'SearchParameter', count: 1 })).records;
    return r ? `${r.id}/${r.versionId}/${r.seq}` : '';
  };
  const check = async (): Promise<void> => {
    const now = await newest();
    if (now === seen) return;
    await syncSearchParameters(ctx);
    seen = now;
  };
  const tick = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      check().catch(onError).finally(tick);
    }, everyMs);
    timer.unref();
  };
  // The engine loaded the stored parameters at start: remember what it saw, then watch.
  void newest().then((n) => { seen ??= n; }, onError).finally(tick);
  return {
    check,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
