// R4 primitive data types: the JSON type each must have and the lexical form the spec gives
// (R4 datatypes.html#primitive). Checked on every write.
import { ID_RE } from '../fhir-basics/ids.js';
import { xsdRegex } from './xsd-regex.js';

type JsonKind = 'string' | 'number' | 'boolean';

interface PrimitiveRule {
  json: JsonKind;
  regex?: RegExp;
  check?: (v: string | number) => string | undefined;
}

const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const MONTH = '(0[1-9]|1[0-2])';
const DAY = '(0[1-9]|[1-2][0-9]|3[0-1])';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,9})?';
const TZ = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';

const DATE_RE = new RegExp(`^${YEAR}(-${MONTH}(-${DAY})?)?$`);
const DATETIME_RE = new RegExp(`^${YEAR}(-${MONTH}(-${DAY}(T${TIME}${TZ})?)?)?$`);
const INSTANT_RE = new RegExp(`^${YEAR}-${MONTH}-${DAY}T${TIME}${TZ}$`);
const TIME_RE = new RegExp(`^${TIME}$`);

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Rejects dates that match the pattern but do not exist (2023-02-30, 2023-02-29). */
function realDate(v: string | number): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(v));
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const max = mo === 2 && !leap ? 28 : DAYS_IN_MONTH[mo - 1] ?? 31;
  return d > max ? `${m[0]} is not a calendar date` : undefined;
}

function intRange(min: number): (v: string | number) => string | undefined {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n)) return 'must be a whole number';
    if (n < min || n > 2147483647) return `must be between ${min} and 2147483647`;
    return undefined;
  };
}

function nonEmpty(type: string): (v: string | number) => string | undefined {
  return (v) => (v === '' ? `must not be empty (FHIR ${type})` : undefined);
}

export const PRIMITIVES: Readonly<Record<string, PrimitiveRule>> = {
  boolean: { json: 'boolean' },
  integer: { json: 'number', check: intRange(-2147483648) },
  unsignedInt: { json: 'number', check: intRange(0) },
  positiveInt: { json: 'number', check: intRange(1) },
  decimal: { json: 'number', check: (v) => (Number.isFinite(v) ? undefined : 'must be a finite number') },
  string: { json: 'string', check: nonEmpty('string') },
  markdown: { json: 'string', check: nonEmpty('markdown') },
  // XML Schema regexes: `\s` is space, tab, CR, LF only (U+00A0 is not whitespace there).
  code: { json: 'string', regex: xsdRegex('^[^\\s]+( [^\\s]+)*$') },
  id: { json: 'string', regex: ID_RE },
  uri: { json: 'string', regex: xsdRegex('^\\S*$') },
  url: { json: 'string', regex: xsdRegex('^\\S*$') },
  canonical: { json: 'string', regex: xsdRegex('^\\S*$') },
  oid: { json: 'string', regex: /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/ },
  uuid: { json: 'string', regex: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/ },
  // The R4 pattern is (\s*[0-9a-zA-Z+/=]\s*)*: the same language, without its backtracking.
  base64Binary: { json: 'string', regex: /^[0-9a-zA-Z+/=\s]*$/ },
  date: { json: 'string', regex: DATE_RE, check: realDate },
  dateTime: { json: 'string', regex: DATETIME_RE, check: realDate },
  instant: { json: 'string', regex: INSTANT_RE, check: realDate },
  time: { json: 'string', regex: TIME_RE },
  xhtml: { json: 'string', check: nonEmpty('xhtml') },
};

/** R4 datatypes.html#string: 1 MB, counted in bytes as the reference validator counts it. */
const MAX_STRING_BYTES = 1024 * 1024;
const UNLIMITED = new Set(['base64Binary', 'xhtml']);

/** Returns a problem description, or undefined when `value` is a valid `type`. */
export function checkPrimitive(type: string, value: unknown): string | undefined {
  const rule = PRIMITIVES[type];
  if (!rule) return undefined;
  if (typeof value !== rule.json) {
    return `must be a JSON ${rule.json} (FHIR ${type}), got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  }
  // R4 datatypes.html#string: strings SHALL NOT exceed 1 MB (base64Binary and xhtml have no such limit).
  if (typeof value === 'string' && value.length > MAX_STRING_BYTES / 4 && !UNLIMITED.has(type) && Buffer.byteLength(value, 'utf8') > MAX_STRING_BYTES) {
    return `is longer than the 1 MB (${MAX_STRING_BYTES} bytes) R4 allows for a ${type}`;
  }
  if (rule.regex && !rule.regex.test(value as string)) {
    return value === '' ? `must not be empty (FHIR ${type})` : `is not a valid ${type}`;
  }
  return rule.check?.(value as string | number);
}
