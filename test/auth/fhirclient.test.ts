// The real `fhirclient` library (smart-on-fhir/client-js) against Flint: standalone and EHR
// launches in Node, and in headless Chromium against a small SMART app page on another origin,
// through Flint's own sign-in and consent pages.
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { listenFlint, seedClinic, addClient, tokenRequest } from '../helpers/auth.js';

const require = createRequire(import.meta.url);
const smart = require('fhirclient') as (req: IncomingMessage, res: ServerResponse, storage?: unknown) => {
  authorize(o: Record<string, unknown>): Promise<string | void>;
  ready(): Promise<{ patient: { id: string | null }; encounter: { id: string | null }; state: { tokenResponse?: Record<string, unknown> }; request(url: string): Promise<Record<string, unknown>>; refresh(): Promise<unknown> }>;
};

const SCOPES = ['openid', 'fhirUser', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'patient/*.cruds', 'user/*.cruds'];

/** A minimal confidential-free SMART app server in Node, using fhirclient. */
async function nodeApp(t: { teardown(fn: () => unknown): void }, clientId: string, extra: Record<string, unknown> = {}) {
  const storage = new Map<string, unknown>();
  const store = { get: async (k: string) => storage.get(k), set: async (k: string, v: unknown) => { storage.set(k, v); return v; }, unset: async (k: string) => storage.delete(k) };
  let result: Record<string, unknown> | undefined;
  let failure: string | undefined;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/launch') {
        await smart(req, res, store).authorize({ clientId, redirectUri: '/callback', ...extra, ...(url.searchParams.has('iss') ? {} : { iss: extra.iss }) });
        return;
      }
      if (url.pathname === '/callback') {
        const client = await smart(req, res, store).ready();
        const patient = await client.request(`Patient/${client.patient.id}`);
        await client.refresh();
        result = { patient, encounter: client.encounter.id, token: client.state.tokenResponse };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result));
        return;
      }
      res.writeHead(404).end();
    } catch (err) {
      failure = String(err);
      res.writeHead(500).end(failure);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  return { origin: `http://localhost:${port}`, result: () => result, failure: () => failure };
}

/** Follows redirects by hand, adding the test sign-in to Flint's authorize URL. */
async function follow(start: string, user: string, authorizeUrl: string): Promise<Response> {
  let url = start;
  for (let i = 0; i < 10; i++) {
    let target = url;
    if (target.startsWith(authorizeUrl)) target += `&__test_user=${user}`;
    const res = await fetch(target, { redirect: 'manual' });
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc) {
      url = new URL(loc, target).toString();
      continue;
    }
    return res;
  }
  throw new Error('too many redirects');
}

t.test('Node: standalone launch with a public client — discovery, PKCE, token, read, refresh (E2E-01..03)', async (t) => {
  const { app, base, origin } = await listenFlint(t);
  await seedClinic(app);
  const clientApp = await nodeApp(t, 'node-app', { scope: 'launch/patient openid fhirUser offline_access patient/*.rs', iss: base });
  await addClient(app, { client_id: 'node-app', type: 'public', redirect_uris: [`${clientApp.origin}/callback`], scopes: SCOPES });
  const first = await fetch(`${clientApp.origin}/launch`, { redirect: 'manual' });
  const authorizeUrl = first.headers.get('location') ?? '';
  const u = new URL(authorizeUrl);
  t.equal(`${u.origin}${u.pathname}`, `${origin}/auth/authorize`, 'fhirclient found the authorization endpoint by discovery');
  t.equal(u.searchParams.get('aud'), base);
  t.equal(u.searchParams.get('code_challenge_method'), 'S256', 'and PKCE, from code_challenge_methods_supported');
  const res = await follow(authorizeUrl, 'alice', `${origin}/auth/authorize`);
  t.equal(res.status, 200, clientApp.failure() ?? '');
  const out = clientApp.result();
  t.equal((out?.patient as { id: string }).id, 'pat-alice', 'client.request read the patient');
  t.ok((out?.token as { refresh_token?: string }).refresh_token, 'client.refresh() rotated the refresh token');
});

t.test('Node: EHR launch — the EHR opens the app with iss and launch (E2E-06)', async (t) => {
  const { app, origin } = await listenFlint(t);
  await seedClinic(app);
  const clientApp = await nodeApp(t, 'ehr-node', { scope: 'openid fhirUser offline_access patient/*.rs user/*.rs' });
  await addClient(app, { client_id: 'ehr-node', type: 'public', redirect_uris: [`${clientApp.origin}/callback`], launch_uris: [`${clientApp.origin}/launch`], scopes: SCOPES });
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const { privateKey, publicKey } = await generateKeyPair('ES384');
  await addClient(app, { client_id: 'ehr', type: 'asymmetric', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'e1' }] }, admin: true, scopes: ['system/*.rs'] });
  const assertion = await new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES384', kid: 'e1' }).setIssuer('ehr').setSubject('ehr')
    .setAudience(`${origin}/auth/token`).setExpirationTime(Math.floor(Date.now() / 1000) + 120).sign(privateKey);
  const admin = await tokenRequest(app, { grant_type: 'client_credentials', scope: 'system/*.rs __admin', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
  const launch = await fetch(`${origin}/auth/launch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.body.access_token}` }, body: JSON.stringify({ client_id: 'ehr-node', patient: 'pat-bob', encounter: 'enc-bob-1', username: 'dr-smith' }) });
  const { launch_url: launchUrl } = await launch.json() as { launch_url: string };
  const first = await fetch(launchUrl, { redirect: 'manual' });
  const authorizeUrl = first.headers.get('location') ?? '';
  t.match(authorizeUrl, /[?&]launch=/, 'fhirclient passes the launch handle');
  t.match(decodeURIComponent(new URL(authorizeUrl).searchParams.get('scope') ?? ''), /\blaunch\b/, 'and adds the launch scope');
  const res = await follow(authorizeUrl, 'dr-smith', `${origin}/auth/authorize`);
  t.equal(res.status, 200, clientApp.failure() ?? '');
  const out = clientApp.result();
  t.equal((out?.patient as { id: string }).id, 'pat-bob');
  t.equal(out?.encounter, 'enc-bob-1');
  const token = out?.token as Record<string, unknown>;
  t.equal(token.need_patient_banner, true);
  t.ok(token.smart_style_url);
});

const CHROMIUM = '/usr/bin/chromium';

t.test('Chromium: a SMART app page on another origin, through Flint\'s sign-in and consent pages (E2E-07)', { skip: existsSync(CHROMIUM) ? false : `Debian's chromium is not installed at ${CHROMIUM} (.ci/run installs it)` }, async (t) => {
  const { chromium } = await import('playwright-core');
  const { app, base, origin } = await listenFlint(t, { AUTH_TEST_HOOKS: '0' });
  const { registerUser } = await import('../../src/auth/server/admin.js');
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const { privateKey, publicKey } = await generateKeyPair('ES384');
  await addClient(app, { client_id: 'loader', type: 'asymmetric', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'l1' }] }, scopes: ['system/*.cruds'] });
  const assertion = await new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES384', kid: 'l1' }).setIssuer('loader').setSubject('loader')
    .setAudience(`${origin}/auth/token`).setExpirationTime(Math.floor(Date.now() / 1000) + 120).sign(privateKey);
  const sys = await tokenRequest(app, { grant_type: 'client_credentials', scope: 'system/*.cruds', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
  const { load, clinic } = await import('../helpers/app.js');
  const { withToken } = await import('../helpers/auth.js');
  await load(withToken(app, sys.body.access_token), clinic());
  await registerUser(app.authService, { username: 'alice', password: 'correct horse battery', fhirUser: 'Patient/pat-alice' });

  const bundle = readFileSync(require.resolve('fhirclient/build/fhir-client.js'), 'utf8');
  const page = (body: string) => `<!doctype html><html><head><meta charset="utf-8"><script src="/fhir-client.js"></script></head><body>${body}</body></html>`;
  const spa = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/fhir-client.js') { res.writeHead(200, { 'content-type': 'text/javascript' }); res.end(bundle); return; }
    if (path === '/launch.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page(`<script>FHIR.oauth2.authorize({ clientId: 'spa', scope: 'launch/patient openid fhirUser patient/*.rs', redirectUri: 'index.html', iss: ${JSON.stringify(base)} });</script>`));
      return;
    }
    if (path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page(`<pre id="out">waiting</pre><script>FHIR.oauth2.ready().then(c => c.request('Patient/' + c.patient.id)).then(p => { document.getElementById('out').textContent = 'PATIENT ' + p.id + ' ' + p.name[0].family; }).catch(e => { document.getElementById('out').textContent = 'ERROR ' + e; });</script>`));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => spa.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => spa.close());
  const spaOrigin = `http://localhost:${(spa.address() as AddressInfo).port}`;
  await addClient(app, { client_id: 'spa', name: 'Chart SPA', type: 'public', redirect_uris: [`${spaOrigin}/index.html`], scopes: SCOPES });

  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const tab = await browser.newPage();
  const trail: string[] = [];
  tab.on('console', (m) => trail.push(`console ${m.type()}: ${m.text()}`));
  tab.on('requestfailed', (r) => trail.push(`failed ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  tab.on('response', (r) => trail.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  t.teardown(() => { if (process.env.DEBUG_E2E) console.error(trail.join('\n')); });
  const tokenResponse = tab.waitForResponse((r) => r.url() === `${origin}/auth/token`);
  await tab.goto(`${spaOrigin}/launch.html`);
  await tab.waitForURL(/\/auth\/authorize/);
  await tab.fill('input[name=username]', 'alice');
  await tab.fill('input[name=password]', 'correct horse battery');
  await tab.click('button[type=submit]');
  await tab.waitForSelector('text=Allow access?');
  await tab.click('button[value=allow]');
  await tab.waitForFunction("!(document.getElementById('out')?.textContent ?? 'waiting').startsWith('waiting')", undefined, { timeout: 20_000 });
  const tokRes = await tokenResponse;
  t.equal(tokRes.status(), 200);
  t.equal(tokRes.headers()['access-control-allow-origin'], spaOrigin, 'CORS on the token endpoint for the app\'s origin');
  const tokJson = await tokRes.json() as Record<string, unknown>;
  t.equal(tokJson.patient, 'pat-alice');
  t.ok(tokJson.id_token, 'an id_token on the wire');
  t.equal(await tab.textContent('#out'), 'PATIENT pat-alice Walker', 'the app read the patient from another origin (CORS preflight included)');
});
