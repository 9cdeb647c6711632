// FHIR's regular expressions are XML Schema regexes (R4 datatypes.html#primitive, and the
// `pattern`s of fhir.schema.json), where `\s` is only space, tab, CR and LF. JavaScript's `\s` also
// matches NO-BREAK SPACE (U+00A0), BOM and the Unicode spaces, so `[ \r\n\t\S]+` (string) would
// refuse "a\u00A0b". This rewrites `\s`/`\S` to their XML Schema meaning.

/** XML Schema whitespace (XSD Part 2, F.1.1 `\s`): `[#x20\t\n\r]`. */
const XS_SPACE = ' \\t\\n\\r';
/** What JavaScript's `\s` matches beyond XS_SPACE: these are non-space characters in XSD. */
const JS_ONLY_SPACE = '\\v\\f\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';

/** `pattern` (an XML Schema regex as FHIR publishes it) as a JavaScript regex source. */
export function xsdRegexSource(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      const n = pattern[i + 1];
      i++;
      if (n === 's') out += inClass ? XS_SPACE : `[${XS_SPACE}]`;
      else if (n === 'S') out += inClass ? `\\S${JS_ONLY_SPACE}` : `[^${XS_SPACE}]`;
      else out += `\\${n}`;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  return out;
}

/** The JavaScript RegExp of an XML Schema regex. */
export function xsdRegex(pattern: string): RegExp {
  return new RegExp(xsdRegexSource(pattern));
}
