// Opens the auth registry (./registry.ts) for a deployment. Apart from open.ts so that the
// command line (scripts/auth.ts) loads the registry's adapters only, not the FHIR store's.
import { connectMongo, type DatabaseTarget } from './open.js';
import type { AuthRegistry } from './registry.js';
import type { MongoDb } from './mongo/db.js';
import { SqliteRegistry } from './sqlite/registry.js';
import { MongoRegistry } from './mongo/registry.js';

/**
 * The auth registry (clients, grants, tokens, keys, audit) for a deployment: on MongoDB in the
 * same database as the FHIR data, through `db` when given (the clinical store's handle, which
 * the registry then leaves open) or its own connection; on SQLite in its own file (AUTH_DB),
 * as the auth data always was.
 */
export async function openRegistry(target: DatabaseTarget, authFile: string, db?: MongoDb): Promise<AuthRegistry> {
  if (target.kind === 'sqlite') return new SqliteRegistry(authFile);
  const own = db === undefined;
  const handle = db ?? await connectMongo(target.url);
  try {
    return await MongoRegistry.open({ db: handle, ownsDb: own });
  } catch (err) {
    if (own) await handle.close();
    throw err;
  }
}
