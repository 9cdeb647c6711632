// Effects deferred to after a commit run once, even when the store runs the transaction body
// again (the MongoDB driver's withTransaction retries on a transient write conflict).
import t from 'tap';
import { afterCommit, inTransaction } from '../../src/fhir/tx.js';
import type { FhirContext } from '../../src/fhir/context.js';
import type { Store } from '../../src/store/port.js';

t.test('a retried transaction runs the effects of the committed attempt only', async (t) => {
  let attempts = 0;
  const store = {
    async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
      // First attempt: aborted by a (simulated) write conflict after the body ran; then retried.
      attempts++;
      await fn(store as unknown as Store);
      attempts++;
      return fn(store as unknown as Store);
    },
  };
  const ctx = { store } as unknown as FhirContext;
  const ran: number[] = [];
  const out = await inTransaction(ctx, async (tx) => {
    const attempt = attempts;
    afterCommit(tx, () => ran.push(attempt));
    return 'done';
  });
  t.equal(out, 'done');
  t.equal(attempts, 2);
  t.same(ran, [2], 'one effect, from the attempt that committed');
});

t.test('outside a transaction an effect runs at once', async (t) => {
  let ran = 0;
  afterCommit({} as FhirContext, () => ran++);
  t.equal(ran, 1);
});
