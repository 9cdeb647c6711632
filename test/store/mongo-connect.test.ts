// Start-up errors of the MongoDB adapter: each says what is wrong, and never the password.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { StoreError } from '../../src/store/port.js';
import { connectMongo, databaseName } from '../../src/store/mongo/driver.js';
import { openStore } from '../../src/store/open.js';

async function startupError(url: string): Promise<StoreError> {
  try {
    const db = await connectMongo(url, { serverSelectionTimeoutMS: 300 });
    await db.close();
  } catch (err) {
    if (err instanceof StoreError) return err;
    throw err;
  }
  throw new Error(`${url} connected`);
}

t.test('an unreachable server is a clear start-up error without the password', async (t) => {
  // Port 9 on loopback: nothing listens there, the connection is refused at once.
  const err = await startupError('mongodb://flint:s3cr%40t-pw@127.0.0.1:9/flint?directConnection=true');
  t.equal(err.code, 'unavailable');
  t.match(err.message, /MongoDB is unreachable at mongodb:\/\/\*\*\*@127\.0\.0\.1:9/);
  t.notMatch(err.message, /s3cr/);
});

t.test('a malformed URL is a clear start-up error without the password', async (t) => {
  const err = await startupError('mongodb://flint:hunter2@host:notaport/flint');
  t.equal(err.code, 'unavailable');
  t.match(err.message, /not a valid MongoDB URL/);
  t.notMatch(err.message, /hunter2/);
});

t.test('openStore with a mongodb URL reaches the MongoDB adapter (no longer "not available")', async (t) => {
  await t.rejects(openStore({ kind: 'mongodb', url: 'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&directConnection=true' }), /MongoDB is unreachable/);
});

t.test('the database is the one named in the URL, else flint', async (t) => {
  t.equal(databaseName('mongodb://h:27017/clinic?replicaSet=rs0'), 'clinic');
  t.equal(databaseName('mongodb+srv://u:p@cluster0.example.net/'), 'flint');
  t.equal(databaseName('mongodb://a:1,b:2'), 'flint');
});

t.test('Flint exits with code 1 and a plain message when its MongoDB is unreachable, password hidden', async (t) => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env, PORT: '0', LOG_LEVEL: 'silent', AUTH: 'off',
      DATABASE_URL: 'mongodb://flint:pa55word@127.0.0.1:9/flint?serverSelectionTimeoutMS=300&directConnection=true',
    },
    encoding: 'utf8', timeout: 60_000,
  });
  t.equal(res.status, 1);
  t.match(res.stderr, /could not start .*MongoDB is unreachable/);
  t.notMatch(res.stderr + res.stdout, /pa55word/);
});
