// The Synthea bundles of ../shared/corpus/synthea as plain resources with local references:
// urn:uuid fullUrls become Type/id (the resources carry those ids), and the references to
// Organizations and Practitioners outside a patient's bundle resolve through the
// hospital/practitioner files (see corpus/README.md).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localRefs } from '../../scripts/generate-data.js';

export const SYNTHEA_DIR = join('..', 'shared', 'corpus', 'synthea');

type Json = Record<string, unknown>;
interface Bundle { entry: { fullUrl: string; resource: Json & { resourceType: string; id: string } }[] }

function readBundle(file: string): Bundle {
  return JSON.parse(readFileSync(join(SYNTHEA_DIR, file), 'utf8')) as Bundle;
}

export function syntheaFiles(): { patients: string[]; shared: string[] } {
  const all = readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json')).sort();
  return {
    shared: all.filter((f) => f.startsWith('hospitalInformation') || f.startsWith('practitionerInformation')),
    patients: all.filter((f) => !f.startsWith('hospitalInformation') && !f.startsWith('practitionerInformation')),
  };
}

/** Every Synthea resource (shared organizations and practitioners first), references made local. */
export function syntheaResources(limitPatients?: number): (Json & { resourceType: string; id: string })[] {
  const { shared, patients } = syntheaFiles();
  const bundles = [...shared, ...patients.slice(0, limitPatients)].map(readBundle);
  const map = new Map<string, string>();
  for (const b of bundles) {
    for (const e of b.entry) map.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  }
  return bundles.flatMap((b) => b.entry.map((e) => localRefs(e.resource, map) as Json & { resourceType: string; id: string }));
}
