// HL7 v2 data types → FHIR data types (after the HL7 v2-to-FHIR IG's datatype maps):
// TS/DTM → dateTime, DT → date, CX/EI → Identifier, XPN → HumanName, XAD → Address,
// XTN → ContactPoint, CWE/CE → CodeableConcept, HD → an identifier system.
import type { Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier } from 'fhir/r4.js';

export const UCUM = 'http://unitsofmeasure.org';

/** Well-known v2 coding system names (HL7 table 0396) → FHIR code system URIs. */
const CODE_SYSTEMS: Record<string, string> = {
  LN: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  UCUM: UCUM,
  I10: 'http://hl7.org/fhir/sid/icd-10',
  'I10C': 'http://hl7.org/fhir/sid/icd-10-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  CPT: 'http://www.ama-assn.org/go/cpt',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
};

/** System for a local or unlisted v2 coding system / assigning authority namespace. */
export function localSystem(kind: 'cs' | 'id', name: string): string {
  return `urn:flint:v2:${kind}:${encodeURIComponent(name)}`;
}

export function codeSystem(name: string): string | undefined {
  if (name === '') return undefined;
  const known = CODE_SYSTEMS[name.toUpperCase()];
  if (known) return known;
  const table = /^HL7(\d{4})$/i.exec(name);
  if (table) return `http://terminology.hl7.org/CodeSystem/v2-${table[1]}`;
  return localSystem('cs', name);
}

/** HD (namespace ^ universal id ^ universal id type) → identifier system. */
export function authoritySystem(namespace: string, universalId: string, type: string): string | undefined {
  if (universalId && /^ISO$/i.test(type) && /^[0-2](\.(0|[1-9][0-9]*))+$/.test(universalId)) return `urn:oid:${universalId}`;
  if (universalId && /^(URI|URL)$/i.test(type) && /^[a-z][a-z0-9+.-]*:\S+$/i.test(universalId)) return universalId;
  if (namespace) return localSystem('id', namespace);
  if (universalId) return localSystem('id', universalId);
  return undefined;
}

/** CWE/CE components (code, text, system, alt code, alt text, alt system, …, original text (9)). */
export function codeableConcept(c: readonly string[]): CodeableConcept | undefined {
  const coding: Coding[] = [];
  for (const at of [0, 3]) {
    const code = c[at] ?? '';
    const display = c[at + 1] ?? '';
    if (!code) continue;
    const system = codeSystem(c[at + 2] ?? '');
    coding.push({ ...(system ? { system } : {}), code, ...(display ? { display } : {}) });
  }
  const text = c[8] || (coding.length === 0 ? c[1] : '') || '';
  if (coding.length === 0 && !text) return undefined;
  return { ...(coding.length ? { coding } : {}), ...(text ? { text } : {}) };
}

/**
 * TS/DTM (YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]) → FHIR dateTime. FHIR requires a time zone
 * once there is a time (R4 datatypes.html#dateTime): `defaultOffset` stands in when v2 gives none.
 */
export function dateTime(ts: string, defaultOffset: string): string | undefined {
  const m = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,4}))?)?([+-]\d{4})?$/.exec(ts.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  const date = `${y}-${mo}-${d}`;
  if (!h) return validDate(date) ? date : undefined;
  const offset = tz ? `${tz.slice(0, 3)}:${tz.slice(3)}` : defaultOffset;
  const out = `${date}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ? `.${frac}` : ''}${offset === '+00:00' ? 'Z' : offset}`;
  return validDate(date) && Number(h) < 24 && Number(mi ?? 0) < 60 && Number(s ?? 0) < 60 ? out : undefined;
}

function validDate(date: string): boolean {
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().startsWith(date);
}

/** DT → FHIR date (birth dates: YYYY, YYYY-MM or YYYY-MM-DD, time part ignored). */
export function date(dt: string): string | undefined {
  const m = /^(\d{4})(\d{2})?(\d{2})?/.exec(dt.trim());
  if (!m) return undefined;
  const [, y, mo, d] = m;
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  return validDate(`${y}-${mo}-${d}`) ? `${y}-${mo}-${d}` : undefined;
}

/**
 * CX (id ^ check digit ^ scheme ^ assigning authority ^ type ^ …) → Identifier. The assigning
 * authority is an HD in subcomponents (namespace & universal id & universal id type).
 */
export function cxIdentifier(rep: readonly (readonly string[])[], fallbackSystem?: string): Identifier | undefined {
  const value = rep[0]?.[0] ?? '';
  if (!value) return undefined;
  const hd = rep[3] ?? [];
  const system = authoritySystem(hd[0] ?? '', hd[1] ?? '', hd[2] ?? '') ?? fallbackSystem;
  const type = rep[4]?.[0] ?? '';
  return {
    ...(type ? { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: type }] } } : {}),
    ...(system ? { system } : {}),
    value,
  };
}

/** EI (entity id ^ namespace ^ universal id ^ type) → Identifier with the given v2-0203 type. */
export function eiIdentifier(c: readonly string[], type: 'PLAC' | 'FILL', fallbackSystem?: string): Identifier | undefined {
  const value = c[0] ?? '';
  if (!value) return undefined;
  const system = authoritySystem(c[1] ?? '', c[2] ?? '', c[3] ?? '') ?? fallbackSystem;
  return {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: type }] },
    ...(system ? { system } : {}),
    value,
  };
}

const NAME_USE: Record<string, HumanName['use']> = { L: 'official', D: 'usual', M: 'maiden', N: 'nickname', A: 'anonymous', S: 'anonymous' };

/** XPN (family ^ given ^ middle ^ suffix ^ prefix ^ degree ^ type) → HumanName. */
export function humanName(c: readonly string[]): HumanName | undefined {
  const family = c[0] ?? '';
  const given = [c[1], c[2]].filter((x): x is string => !!x);
  const suffix = c[3] ?? '';
  const prefix = c[4] ?? '';
  const use = NAME_USE[c[6] ?? ''];
  if (!family && given.length === 0) return undefined;
  return {
    ...(use ? { use } : {}),
    ...(family ? { family } : {}),
    ...(given.length ? { given } : {}),
    ...(prefix ? { prefix: [prefix] } : {}),
    ...(suffix ? { suffix: [suffix] } : {}),
  };
}

const ADDRESS_USE: Record<string, Address['use']> = { H: 'home', B: 'work', O: 'work', C: 'temp', BA: 'billing' };

/** XAD (street ^ other ^ city ^ state ^ zip ^ country ^ type) → Address. */
export function address(c: readonly string[]): Address | undefined {
  const line = [c[0], c[1]].filter((x): x is string => !!x);
  const [city = '', state = '', postalCode = '', country = ''] = [c[2], c[3], c[4], c[5]];
  if (!line.length && !city && !state && !postalCode && !country) return undefined;
  const use = ADDRESS_USE[c[6] ?? ''];
  return {
    ...(use ? { use } : {}),
    ...(line.length ? { line } : {}),
    ...(city ? { city } : {}),
    ...(state ? { state } : {}),
    ...(postalCode ? { postalCode } : {}),
    ...(country ? { country } : {}),
  };
}

/** XTN (v2.3 number ^ use ^ equipment ^ email ^ country ^ area ^ local …) → ContactPoint. */
export function contactPoint(c: readonly string[], use: ContactPoint['use']): ContactPoint | undefined {
  const equipment = (c[2] ?? '').toUpperCase();
  if (equipment === 'INTERNET' || equipment === 'X.400' || (c[1] ?? '') === 'NET') {
    const email = c[3] || c[0];
    return email ? { system: 'email', value: email, use } : undefined;
  }
  const composed = [c[4] ? `+${c[4]}` : '', c[5] ?? '', c[6] ?? ''].filter(Boolean).join(' ');
  const value = c[0] || composed;
  if (!value) return undefined;
  const system: ContactPoint['system'] = equipment === 'FX' ? 'fax' : equipment === 'BP' ? 'pager' : 'phone';
  return { system, value, use: equipment === 'CP' ? 'mobile' : use };
}
