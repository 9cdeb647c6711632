// The caller's access policy as JSON, kept in an export job: the job runs later, maybe on another
// instance, and exports exactly what the client that kicked it off may read.
import type { AccessPolicy, AccessRule } from '../fhir/context.js';
import { isObject } from '../fhir-basics/json.js';

export interface StoredPolicy {
  rules: { level: AccessRule['level']; type: string; perms: string[]; query?: string }[];
  patient?: string;
  userPatient?: string;
  fhirUser?: string;
  admin?: boolean;
  clientId?: string;
}

export function storePolicy(p: AccessPolicy): StoredPolicy {
  return {
    rules: p.rules.map((r) => ({ level: r.level, type: r.type, perms: [...r.perms], ...(r.query !== undefined ? { query: r.query } : {}) })),
    ...(p.patient !== undefined ? { patient: p.patient } : {}),
    ...(p.userPatient !== undefined ? { userPatient: p.userPatient } : {}),
    ...(p.fhirUser !== undefined ? { fhirUser: p.fhirUser } : {}),
    ...(p.admin ? { admin: true } : {}),
    ...(p.clientId !== undefined ? { clientId: p.clientId } : {}),
  };
}

/** Back to a policy; a malformed stored policy grants nothing (never more than it says). */
export function revivePolicy(raw: unknown): AccessPolicy {
  if (!isObject(raw) || !Array.isArray(raw.rules)) return { rules: [] };
  const s = raw as unknown as StoredPolicy;
  return {
    rules: s.rules.map((r) => ({ level: r.level, type: r.type, perms: new Set(r.perms), ...(r.query !== undefined ? { query: r.query } : {}) })),
    ...(s.patient !== undefined ? { patient: s.patient } : {}),
    ...(s.userPatient !== undefined ? { userPatient: s.userPatient } : {}),
    ...(s.fhirUser !== undefined ? { fhirUser: s.fhirUser } : {}),
    ...(s.admin ? { admin: true } : {}),
    ...(s.clientId !== undefined ? { clientId: s.clientId } : {}),
  };
}
