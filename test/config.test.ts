// Configuration from the environment: defaults, every variable, and refusal of bad values.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.js';

t.test('defaults: port 8080, sqlite file under data/, base URL from the port', async (t) => {
  const c = loadConfig({});
  t.equal(c.port, 8080);
  t.equal(c.host, '127.0.0.1');
  t.equal(c.baseUrl, 'http://localhost:8080/fhir');
  t.same(c.database, { kind: 'sqlite', filename: resolve('data/flint.db') });
  t.equal(c.logLevel, 'info');
  t.equal(c.bodyLimit, 40 * 1024 * 1024, 'the largest official R4 example Bundle (35 MB) fits');
});

t.test('every variable is read', async (t) => {
  const c = loadConfig({
    PORT: '9000', HOST: '0.0.0.0', BASE_URL: 'https://fhir.example.org/r4/', DATABASE_URL: 'sqlite::memory:',
    LOG_LEVEL: 'warn', BODY_LIMIT: '4096', DEFAULT_COUNT: '10', MAX_COUNT: '50', PROFILES_DIR: 'x/profiles',
  });
  t.equal(c.port, 9000);
  t.equal(c.host, '0.0.0.0');
  t.equal(c.baseUrl, 'https://fhir.example.org/r4', 'trailing slash removed');
  t.same(c.database, { kind: 'sqlite', filename: ':memory:' });
  t.equal(c.logLevel, 'warn');
  t.equal(c.bodyLimit, 4096);
  t.equal(c.defaultCount, 10);
  t.equal(c.maxCount, 50);
  t.equal(c.profilesDir, resolve('x/profiles'));
  t.equal(loadConfig({ PORT: '9000' }).baseUrl, 'http://localhost:9000/fhir');
  t.same(loadConfig({ DATABASE_URL: 'mongodb://u:p@db:27017/flint' }).database, { kind: 'mongodb', url: 'mongodb://u:p@db:27017/flint' });
});

t.test('invalid values throw a ConfigError naming the variable', async (t) => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ HOST: 'a b' }, /HOST/],
    [{ BASE_URL: 'not a url' }, /BASE_URL/],
    [{ BASE_URL: 'ftp://x/fhir' }, /BASE_URL/],
    [{ BASE_URL: 'http://x/fhir?a=1' }, /BASE_URL/],
    [{ DATABASE_URL: 'postgres://x' }, /DATABASE_URL/],
    [{ DATABASE_URL: 'sqlite:' }, /DATABASE_URL/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ BODY_LIMIT: '-5' }, /BODY_LIMIT/],
    [{ DEFAULT_COUNT: '50', MAX_COUNT: '10' }, /DEFAULT_COUNT/],
    [{ READ_CACHE_ENTRIES: '10000' }, /READ_CACHE_ENTRIES was replaced by READ_CACHE_BYTES/],
  ];
  for (const [env, re] of bad) t.throws(() => loadConfig(env), { name: 'ConfigError', message: re }, JSON.stringify(env));
  t.ok(new ConfigError('x') instanceof Error);
});

t.test('credentials in DATABASE_URL are not echoed in the error', async (t) => {
  try {
    loadConfig({ DATABASE_URL: 'postgres://user:secret@host/db' });
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    t.notMatch((err as Error).message, /secret/);
  }
});

t.test('the server refuses to start on an invalid value: clear message, non-zero exit', async (t) => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: 'eighty', DATABASE_URL: 'sqlite::memory:' }, encoding: 'utf8', timeout: 60_000,
  });
  t.not(res.status, 0);
  t.match(res.stderr, /invalid configuration: PORT must be a whole number/);
});
