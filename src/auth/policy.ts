// From granted scopes and launch context to the engine's AccessPolicy.
import type { AccessPolicy, AccessRule } from '../fhir/access.js';
import { parseScopes } from './scopes.js';

export const ADMIN_SCOPE = '__admin';

export interface PolicyInput {
  scope: string;
  patient?: string;
  /** `Patient/1`, `Practitioner/2`… */
  fhirUser?: string;
}

export function policyFromScopes(input: PolicyInput): AccessPolicy {
  const s = parseScopes(input.scope);
  const rules: AccessRule[] = s.clinical.map((c) => ({
    level: c.level, type: c.type, perms: c.perms, ...(c.query !== undefined ? { query: c.query } : {}),
  }));
  const [userType, userId] = (input.fhirUser ?? '').split('/');
  const hasPatientRules = rules.some((r) => r.level === 'patient');
  return {
    rules,
    // patient/ scopes without a patient in context confine to nothing at all.
    ...(hasPatientRules ? { patient: input.patient ?? '\u0000no-patient' } : input.patient ? { patient: input.patient } : {}),
    ...(userType === 'Patient' && userId ? { userPatient: userId } : {}),
    ...(input.fhirUser && (s.fhirUser || s.openid) ? { fhirUser: input.fhirUser } : {}),
    ...(s.unknown.includes(ADMIN_SCOPE) ? { admin: true } : {}),
  };
}
