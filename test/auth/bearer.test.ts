// How the Authorization header is read (RFC 6750 §2.1): the scheme in any case, any spacing
// around the token; anything else is 401 with WWW-Authenticate. The guard reads the common
// spelling (`Bearer <token>`) without a regular expression, so the other spellings are checked here.
import t from 'tap';
import { authApp } from '../helpers/auth.js';
import { issueOperatorToken } from '../../src/auth/server/admin.js';

t.test('the scheme in any case and extra spaces around the token are accepted; other headers get 401', async (t) => {
  const app = await authApp(t);
  const token = (await issueOperatorToken(app.authService, ['system/*.rs'])).access_token;
  const read = (authorization: string) => app.inject({ url: '/fhir/Patient/nobody', headers: { authorization } });
  // 404: the token was accepted and the read ran (there is no such patient).
  for (const h of [`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `Bearer   ${token}`, `Bearer ${token}  `, `Bearer\t${token}`]) {
    t.equal((await read(h)).statusCode, 404, JSON.stringify(h.replace(token, '<token>')));
  }
  for (const h of ['Bearer', 'Bearer ', 'Bearer    ', `Basic ${token}`, `Bearer ${token} ${token}`, `Bearer ${token}x`, `Bearer x${token}`, `Bearer ${'A'.repeat(50_000)}`, 'Bearer \u00e9t\u00e9']) {
    const res = await read(h);
    t.equal(res.statusCode, 401, JSON.stringify(h.replaceAll(token, '<token>').slice(0, 40)));
    t.match(String(res.headers['www-authenticate']), /^Bearer realm=/);
    t.equal(JSON.parse(res.body).resourceType, 'OperationOutcome');
  }
  // Many at once, each answered on its own: a refused header does not disturb an accepted one.
  const mixed = await Promise.all(Array.from({ length: 50 }, (_, i) => read(i % 2 ? `Bearer ${token}` : `Bearer bad${i}`)));
  t.same(mixed.map((r) => r.statusCode), Array.from({ length: 50 }, (_, i) => (i % 2 ? 404 : 401)));
});
