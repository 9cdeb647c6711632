// SMART scopes (App Launch 2.x, with v1 compatibility): parsing, and what each one grants.
// clinical-scope = (patient|user|system)/(Type|*).(v2 perms c?r?u?d?s? | v1 read|write|*)[?granular]

export type Level = 'patient' | 'user' | 'system';
export type Perm = 'c' | 'r' | 'u' | 'd' | 's';

export interface ClinicalScope {
  /** The scope exactly as requested (granular queries stay verbatim). */
  raw: string;
  level: Level;
  /** A resource type, or `*`. */
  type: string;
  perms: ReadonlySet<Perm>;
  /** Requested in v1 syntax (`.read`, `.write`, `.*`): answered in v1 too. */
  v1: boolean;
  /** Granular restriction (`category=…|laboratory`), verbatim; undefined for resource-level scopes. */
  query?: string;
}

export interface Scopes {
  clinical: ClinicalScope[];
  openid: boolean;
  fhirUser: boolean;
  profile: boolean;
  launch: boolean;
  launchPatient: boolean;
  launchEncounter: boolean;
  offline: boolean;
  /** Anything else requested (kept out of grants). */
  unknown: string[];
}

const CLINICAL = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(\?.+)?$/;

export function parseClinical(raw: string): ClinicalScope | undefined {
  const m = CLINICAL.exec(raw);
  if (!m) return undefined;
  const [, level = '', type = '', access = '', query] = m;
  if (access === '') return undefined;
  let perms: Perm[];
  let v1 = false;
  if (access === 'read') { perms = ['r', 's']; v1 = true; }
  else if (access === 'write') { perms = ['c', 'u', 'd']; v1 = true; }
  else if (access === '*') { perms = ['c', 'r', 'u', 'd', 's']; v1 = true; }
  else perms = access.split('') as Perm[];
  return { raw, level: level as Level, type, perms: new Set(perms), v1, ...(query ? { query: query.slice(1) } : {}) };
}

export function parseScopes(scope: string | undefined): Scopes {
  const out: Scopes = { clinical: [], openid: false, fhirUser: false, profile: false, launch: false, launchPatient: false, launchEncounter: false, offline: false, unknown: [] };
  for (const s of (scope ?? '').split(/\s+/).filter(Boolean)) {
    const c = parseClinical(s);
    if (c) { out.clinical.push(c); continue; }
    switch (s) {
      case 'openid': out.openid = true; break;
      case 'fhirUser': out.fhirUser = true; break;
      case 'profile': out.profile = true; break;
      case 'launch': out.launch = true; break;
      case 'launch/patient': out.launchPatient = true; break;
      case 'launch/encounter': out.launchEncounter = true; break;
      case 'offline_access': out.offline = true; break;
      default: out.unknown.push(s);
    }
  }
  return out;
}

/** The scope string for a set of scopes (granted ones are echoed in their requested syntax). */
export function formatScopes(s: Scopes): string {
  const parts: string[] = [];
  if (s.launch) parts.push('launch');
  if (s.launchPatient) parts.push('launch/patient');
  if (s.launchEncounter) parts.push('launch/encounter');
  if (s.openid) parts.push('openid');
  if (s.fhirUser) parts.push('fhirUser');
  if (s.profile) parts.push('profile');
  if (s.offline) parts.push('offline_access');
  parts.push(...s.clinical.map((c) => c.raw));
  return parts.join(' ');
}

/** True when `granted` allows at least what `wanted` asks (type, level, perms, filter). */
export function covers(granted: ClinicalScope, wanted: ClinicalScope): boolean {
  if (granted.level !== wanted.level) return false;
  if (granted.type !== '*' && granted.type !== wanted.type) return false;
  for (const p of wanted.perms) if (!granted.perms.has(p)) return false;
  return granted.query === undefined || granted.query === wanted.query;
}

/**
 * The part of `requested` that `allowed` permits (scope negotiation): a requested scope is kept
 * when one allowed scope covers it; a wildcard request is narrowed to the allowed scopes it
 * covers. Never more than requested, never more than allowed.
 */
export function intersect(requested: ClinicalScope[], allowed: ClinicalScope[]): ClinicalScope[] {
  const out: ClinicalScope[] = [];
  const seen = new Set<string>();
  const add = (c: ClinicalScope): void => {
    if (!seen.has(c.raw)) { seen.add(c.raw); out.push(c); }
  };
  for (const r of requested) {
    if (allowed.some((a) => covers(a, r))) { add(r); continue; }
    for (const a of allowed) {
      if (covers(r, a)) add(a); // the request is wider: grant the allowed part
    }
  }
  return out;
}
