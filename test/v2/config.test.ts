// The MLLP settings in src/config.ts: off unless MLLP_PORT is set; bad values are refused at start.
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config.js';

const base = { DATABASE_URL: 'sqlite::memory:' };

t.test('the MLLP listener is off when MLLP_PORT is unset or empty', async (t) => {
  t.equal(loadConfig(base).mllp, undefined);
  t.equal(loadConfig({ ...base, MLLP_PORT: '' }).mllp, undefined);
});

t.test('MLLP settings are read with their defaults and bind to HOST', async (t) => {
  t.same(loadConfig({ ...base, MLLP_PORT: '2575', HOST: '0.0.0.0' }).mllp, {
    port: 2575, host: '0.0.0.0', allowedFacilities: [], createPatients: false, defaultOffset: '+00:00',
    maxFrameBytes: 1048576, maxConnections: 32, idleTimeoutMs: 300_000,
  });
  const c = loadConfig({ ...base, MLLP_PORT: '0', MLLP_ALLOWED_FACILITIES: ' ACME , NORTHLAB,', MLLP_CREATE_PATIENTS: 'true', MLLP_TIMEZONE: '-05:00', MLLP_IDLE_TIMEOUT: '5' }).mllp;
  t.same(c?.allowedFacilities, ['ACME', 'NORTHLAB']);
  t.equal(c?.createPatients, true);
  t.equal(c?.defaultOffset, '-05:00');
  t.equal(c?.idleTimeoutMs, 5000);
});

t.test('bad MLLP settings are refused', async (t) => {
  for (const env of [{ MLLP_PORT: 'x' }, { MLLP_PORT: '70000' }, { MLLP_PORT: '1', MLLP_CREATE_PATIENTS: 'yes' }, { MLLP_PORT: '1', MLLP_TIMEZONE: 'CET' }, { MLLP_PORT: '1', MLLP_MAX_FRAME: '10' }, { MLLP_PORT: '1', MLLP_MAX_CONNECTIONS: '0' }]) {
    t.throws(() => loadConfig({ ...base, ...env }), ConfigError, JSON.stringify(env));
  }
});
