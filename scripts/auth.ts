// npm run auth -- <command>: administers Flint's authorization server on the database named by
// AUTH_DB / DATABASE_URL (the same file the server uses; safe while the server runs).
//
//   client add --id ID [--name N] [--type public|symmetric|asymmetric] [--redirect URI]…
//              [--launch URI]… [--origin ORIGIN]… [--scope S]… [--grant G]…
//              [--jwks-uri URL | --jwks-file FILE] [--secret S] [--admin] [--introspect]
//   client list | client remove ID
//   user add --username U --fhir-user Patient/ID|Practitioner/ID [--name N]
//            (the password is read from FLINT_PASSWORD, or else from the first line of stdin)
//   user list
//   token [--scope "system/*.rs"] [--admin] [--raw]   (--raw prints the bare access token)
//            an access token for an operator (the CLI client `flint-cli`), for curl and scripts;
//            whoever can run this can read the database anyway. Audited like every token.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { loadConfig, ConfigError } from '../src/config.js';
import { AuthService, authSettings } from '../src/auth/service.js';
import { openRegistry } from '../src/store/open-registry.js';
import { issueOperatorToken, registerClient, registerUser, type ClientInput } from '../src/auth/server/admin.js';
import type { ClientType } from '../src/auth/store.js';

const OPTIONS = {
  id: { type: 'string' }, name: { type: 'string' }, type: { type: 'string' },
  redirect: { type: 'string', multiple: true }, launch: { type: 'string', multiple: true }, origin: { type: 'string', multiple: true },
  scope: { type: 'string', multiple: true }, grant: { type: 'string', multiple: true },
  'jwks-uri': { type: 'string' }, 'jwks-file': { type: 'string' }, secret: { type: 'string' },
  admin: { type: 'boolean' }, introspect: { type: 'boolean' }, raw: { type: 'boolean' },
  username: { type: 'string' }, 'fhir-user': { type: 'string' },
} as const;

class UsageError extends Error {}

/** Space-separated or repeated: `--scope "a b" --scope c` → [a, b, c]. */
const words = (list: string[] | undefined): string[] | undefined => (list ? list.flatMap((s) => s.split(/\s+/)).filter(Boolean) : undefined);

async function readPassword(): Promise<string> {
  if (process.env.FLINT_PASSWORD) return process.env.FLINT_PASSWORD;
  if (process.stdin.isTTY) process.stderr.write('password: ');
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  throw new UsageError('no password: set FLINT_PASSWORD or pipe it on stdin');
}

async function run(auth: AuthService, argv: string[]): Promise<unknown> {
  const { values: o, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const [noun, verb, arg] = positionals;
  if (noun === 'client' && verb === 'add') {
    if (!o.id) throw new UsageError('client add needs --id');
    const input: ClientInput = {
      client_id: o.id, ...(o.name ? { name: o.name } : {}), ...(o.type ? { type: o.type as ClientType } : {}),
      ...(o.redirect ? { redirect_uris: o.redirect } : {}), ...(o.launch ? { launch_uris: o.launch } : {}),
      ...(o.origin ? { allowed_origins: o.origin } : {}), ...(o.scope ? { scopes: words(o.scope) } : {}),
      ...(o.grant ? { grant_types: words(o.grant) } : {}), ...(o['jwks-uri'] ? { jwks_uri: o['jwks-uri'] } : {}),
      ...(o['jwks-file'] ? { jwks: JSON.parse(readFileSync(o['jwks-file'], 'utf8')) as { keys: Record<string, unknown>[] } } : {}),
      ...(o.secret ? { secret: o.secret } : {}), admin: o.admin === true, introspect: o.introspect === true,
    };
    const { client, secret } = await registerClient(auth, input);
    return { client_id: client.clientId, type: client.type, scopes: client.scopes, grant_types: client.grantTypes, ...(secret ? { client_secret: secret, note: 'shown once; store it now' } : {}) };
  }
  if (noun === 'client' && verb === 'list') return (await auth.store.clients()).map(({ secretHash: _s, ...c }) => c);
  if (noun === 'client' && verb === 'remove') {
    if (!arg) throw new UsageError('client remove needs an id');
    if (!await auth.store.deleteClient(arg)) throw new UsageError(`no client ${arg}`);
    return { removed: arg };
  }
  if (noun === 'user' && verb === 'add') {
    if (!o.username || !o['fhir-user']) throw new UsageError('user add needs --username and --fhir-user');
    await registerUser(auth, { username: o.username, password: await readPassword(), fhirUser: o['fhir-user'], ...(o.name ? { name: o.name } : {}) });
    return { username: o.username, fhirUser: o['fhir-user'] };
  }
  if (noun === 'user' && verb === 'list') return (await auth.store.users()).map(({ passwordHash: _p, ...u }) => u);
  if (noun === 'token') {
    const scopes = words(o.scope) ?? ['system/*.rs'];
    if (!scopes.every((sc) => sc.startsWith('system/'))) throw new UsageError('operator tokens carry system/ scopes only');
    const token = await issueOperatorToken(auth, scopes, o.admin === true);
    return o.raw ? token.access_token : token;
  }
  throw new UsageError('usage: npm run auth -- client add|list|remove, user add|list, token (see scripts/auth.ts)');
}

async function main(): Promise<void> {
  const config = loadConfig();
  const auth = new AuthService(authSettings(config), await openRegistry(config.database, config.auth.db));
  try {
    const out = await run(auth, process.argv.slice(2));
    process.stdout.write(`${typeof out === 'string' ? out : JSON.stringify(out, null, 2)}\n`);
  } finally {
    await auth.close();
  }
}

main().catch((err: unknown) => {
  const known = err instanceof UsageError || err instanceof ConfigError || (err instanceof Error && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'));
  process.stderr.write(`${known || err instanceof Error ? (err as Error).message : String(err)}\n`);
  process.exit(known ? 2 : 1);
});
