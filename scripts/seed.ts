// npm run seed [-- file.json …]: loads the demo clinic and its fee schedule (or the given Bundles/resources) into the
// store named by DATABASE_URL, with PUT semantics so ids are kept and reseeding adds versions.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, ConfigError } from '../src/config.js';
import { openEngine } from '../src/app.js';
import { update } from '../src/fhir/interactions/write.js';
import { FhirError } from '../src/fhir/errors.js';
import type { FhirContext } from '../src/fhir/context.js';

interface Entry { resource?: { resourceType?: string; id?: string } }

function resourcesOf(file: string): { resourceType?: string; id?: string }[] {
  const json = JSON.parse(readFileSync(file, 'utf8')) as { resourceType?: string; entry?: Entry[] };
  if (json.resourceType === 'Bundle') return (json.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  return [json];
}

async function main(): Promise<void> {
  const config = loadConfig();
  const files = process.argv.slice(2).length ? process.argv.slice(2) : ['fixtures/clinic.json', 'fixtures/fee-schedule.json'];
  const ctx: FhirContext = await openEngine(config, { hooks: [] });
  const store = ctx.store;
  let n = 0;
  try {
    for (const file of files) {
      const resources = resourcesOf(resolve(file));
      await store.transaction(async (tx) => {
        const txCtx = { ...ctx, store: tx };
        for (const r of resources) {
          if (!r.resourceType || !r.id) throw new Error(`${file}: every resource needs a resourceType and an id`);
          await update(txCtx, { type: r.resourceType, id: r.id, body: r });
          n++;
          if (n % 100 === 0) process.stdout.write(`  ${n} resources…\n`);
        }
      });
      process.stdout.write(`seeded ${resources.length} resources from ${file}\n`);
    }
  } finally {
    await store.close();
  }
  process.stdout.write(`done: ${n} resources in ${config.database.kind === 'sqlite' ? config.database.filename : 'MongoDB'}\n`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`seed: invalid configuration: ${err.message}\n`);
  else if (err instanceof FhirError) process.stderr.write(`seed: a resource was refused: ${JSON.stringify(err.issues)}\n`);
  else process.stderr.write(`seed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
