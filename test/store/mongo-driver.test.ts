// The driver binding's transaction retry, without a server: when an operation inside a
// transaction meets a transient error (a write conflict) and the engine turns it into an error
// of its own, the binding rethrows the original so that the driver's withTransaction retries.
import t from 'tap';
import { MongoServerError, type Db, type MongoClient } from 'mongodb';
import { DriverDb } from '../../src/store/mongo/driver.js';
import { DuplicateKeyError } from '../../src/store/mongo/db.js';

const conflict = (): MongoServerError => new MongoServerError({ message: 'WriteConflict', code: 112, errorLabels: ['TransientTransactionError'] });

/** A client whose sessions retry like the driver's: again on a TransientTransactionError label. */
function fakeClient(attempts: { n: number }): MongoClient {
  const session = {
    async withTransaction<T>(fn: (s: unknown) => Promise<T>): Promise<T> {
      for (;;) {
        attempts.n++;
        try {
          return await fn(session);
        } catch (err) {
          if (err instanceof MongoServerError && err.hasErrorLabel('TransientTransactionError') && attempts.n < 5) continue;
          throw err;
        }
      }
    },
    async endSession() {},
  };
  return { startSession: () => session } as unknown as MongoClient;
}

/** A database whose finds fail with `errors` in turn, then succeed. */
function fakeDb(errors: Error[]): Db {
  return {
    collection: () => ({
      find: () => ({ toArray: async () => { const e = errors.shift(); if (e) throw e; return [{ _id: 'x' }]; } }),
      insertOne: async () => { throw new MongoServerError({ message: 'E11000 duplicate key', code: 11000 }); },
    }),
  } as unknown as Db;
}

t.test('a transient error wrapped by the engine is rethrown as itself, so the transaction is retried', async (t) => {
  const attempts = { n: 0 };
  const db = new DriverDb(fakeClient(attempts), fakeDb([conflict()]), 'replicaset');
  const result = await db.withTransaction(async (s) => {
    try {
      return await db.find('resources', {}, {}, s);
    } catch (err) {
      throw new Error(`the engine's own error (${String(err)})`);
    }
  });
  t.same(result, [{ _id: 'x' }]);
  t.equal(attempts.n, 2, 'run again after the conflict');
});

t.test('a non-transient failure is not retried and keeps the engine\'s error', async (t) => {
  const attempts = { n: 0 };
  const db = new DriverDb(fakeClient(attempts), fakeDb([new Error('disk on fire')]), 'replicaset');
  await t.rejects(db.withTransaction(async (s) => {
    try {
      return await db.find('resources', {}, {}, s);
    } catch {
      throw new Error('engine: failed');
    }
  }), /engine: failed/);
  t.equal(attempts.n, 1);
});

t.test('a duplicate key becomes DuplicateKeyError (what the store maps to a version conflict)', async (t) => {
  const db = new DriverDb(fakeClient({ n: 0 }), fakeDb([]), 'replicaset');
  await t.rejects(db.insertOne('resources', { _id: 'Patient/p1' }), DuplicateKeyError);
});
