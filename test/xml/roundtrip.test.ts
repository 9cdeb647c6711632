// FHIR XML from the definitions (R4 xml.html): every official example converts JSON → XML → JSON
// unchanged, the official XML examples read as their JSON twins, and the format's details
// (primitive arrays with nulls, `_x` data, choice names, nested resources, xhtml) hold.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { toXml } from '../../src/xml/write.js';
import { fromXml } from '../../src/xml/read.js';
import { EXAMPLES_DIR, fullExampleSet, r4Examples } from '../../scripts/corpus.js';

const defs = loadDefinitions();
const roundTrip = (r: unknown): unknown => fromXml(defs, toXml(defs, r));

t.test('every official R4 example in the corpus converts JSON → XML → JSON unchanged', async (t) => {
  let n = 0;
  for (const { file, resource } of r4Examples()) {
    n++;
    t.same(roundTrip(resource), resource, file);
  }
  t.ok(n >= 70, `${n} examples`);
});

/** The complete official example set, when it is on this machine (scripts/corpus.ts says how). */
const FULL_SET = fullExampleSet(process.env.FHIR_R4_EXAMPLES);

// 5,306 conversions both ways take minutes on a busy machine: more than tap's default per file.
if (FULL_SET) t.setTimeout(900_000);

t.test('every resource of hl7.fhir.r4.examples converts JSON → XML → JSON unchanged', { skip: FULL_SET ? false : 'hl7.fhir.r4.examples is not on this machine (see the comment above)', timeout: 900_000 }, async (t) => {
  const dir = FULL_SET ?? '';
  let n = 0;
  const failed: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'package.json').sort()) {
    const resource = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
    n++;
    // One assertion for the set (tap would otherwise print 5,306 lines); failures are named.
    if (!isDeepStrictEqual(roundTrip(resource), resource)) failed.push(file);
  }
  t.same(failed, [], 'no example changes');
  t.ok(n >= 5300, `${n} examples`);
});

/** `&#39;` and friends as the characters they stand for (both are the same XHTML). */
const decodeRefs = (s: string): string => s.replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d)));

t.test('the official XML examples in the corpus read as their JSON twins', async (t) => {
  const xmlFiles = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.xml'));
  let compared = 0;
  for (const f of xmlFiles) {
    const json = fromXml(defs, readFileSync(join(EXAMPLES_DIR, f), 'utf8'));
    const candidates = [join(EXAMPLES_DIR, f.replace(/\.xml$/, '.json')), ...(FULL_SET ? [join(FULL_SET, `${String(json.resourceType)}-${String(json.id)}.json`)] : [])];
    const twinFile = candidates.find((c) => existsSync(c));
    if (!twinFile) continue;
    const twin = JSON.parse(readFileSync(twinFile, 'utf8')) as Record<string, unknown>;
    compared++;
    // The two files were serialised separately: the XML one writes ' as &#39; in the narrative.
    const text = (r: Record<string, unknown>): void => {
      const n = r.text as { div?: string } | undefined;
      if (n?.div) n.div = decodeRefs(n.div);
    };
    text(json);
    text(twin);
    // observation-example.xml carries a patient-age extension its JSON twin does not have.
    if (f === 'observation-example.xml') {
      t.match(json.extension, [{ url: 'http://example.com/fhir/StructureDefinition/patient-age', valueAge: { value: 41 } }]);
      delete json.extension;
    }
    t.same(json, twin, `${f} = ${twinFile}`);
  }
  t.ok(compared >= 5, `${compared} XML examples compared with their JSON twins`);
});

t.test('R4 xml.html: namespace, element order from the definitions, primitives as value attributes', async (t) => {
  const xml = toXml(defs, { birthDate: '1970-01-01', resourceType: 'Patient', active: true, id: 'p1', name: [{ given: ['A', 'B'], family: 'F' }] });
  t.equal(xml, '<?xml version="1.0" encoding="UTF-8"?><Patient xmlns="http://hl7.org/fhir"><id value="p1"/><active value="true"/>'
    + '<name><family value="F"/><given value="A"/><given value="B"/></name><birthDate value="1970-01-01"/></Patient>');
});

t.test('R4 json.html#primitive: id and extensions of primitives, arrays with nulls kept aligned', async (t) => {
  const p = {
    resourceType: 'Patient',
    name: [{ given: ['A', null, 'C'], _given: [null, { extension: [{ url: 'http://x/e', valueString: 'no B' }] }, { id: 'g3' }] }],
    _birthDate: { id: 'bd', extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] },
  };
  const xml = toXml(defs, p);
  t.match(xml, '<given value="A"/><given><extension url="http://x/e"><valueString value="no B"/></extension></given><given id="g3" value="C"/>');
  t.match(xml, '<birthDate id="bd"><extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason"><valueCode value="unknown"/></extension></birthDate>');
  t.same(fromXml(defs, xml), p);
});

t.test('R4 xml.html: choice elements named by type, nested resources wrapped, xhtml verbatim, numbers and booleans typed', async (t) => {
  const o = {
    resourceType: 'Observation',
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>a &amp; b <br/> &lt;c&gt; <span   class="x">é</span></p></div>' },
    contained: [{ resourceType: 'Patient', id: 'p', active: false }],
    status: 'final',
    code: { text: 'line 1\nline 2\t"quoted" <tag>' },
    subject: { reference: '#p' },
    valueQuantity: { value: 1.5, unit: 'kg' },
    component: [{ code: { text: 'n' }, valueInteger: -3 }],
  };
  const xml = toXml(defs, o);
  t.match(xml, '<contained><Patient><id value="p"/><active value="false"/></Patient></contained>');
  t.match(xml, '<valueQuantity><value value="1.5"/><unit value="kg"/></valueQuantity>');
  t.match(xml, o.text.div);
  t.same(fromXml(defs, xml), o);
  t.same(roundTrip({ resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:1', resource: o }] }), { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:1', resource: o }] });
});

t.test('decimals: the lexical form 1.50 is read as the number JSON.parse gives (the JSON path keeps no more)', async (t) => {
  const xml = '<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="x"/></code><valueQuantity><value value="1.50"/></valueQuantity></Observation>';
  const json = fromXml(defs, xml);
  t.same(json, JSON.parse('{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}'));
  t.throws(() => fromXml(defs, xml.replace('1.50', '1,5')), { name: 'FhirError', status: 400 }, 'not a decimal');
  t.throws(() => fromXml(defs, '<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>'), { name: 'FhirError', status: 400 }, 'not a boolean');
});

t.test('what the definitions do not allow is refused with 400', async (t) => {
  const bad = (xml: string, why: RegExp, msg: string): void => {
    t.throws(() => fromXml(defs, xml), { status: 400, message: why }, msg);
  };
  bad('<Patient xmlns="http://hl7.org/fhir"><nope value="1"/></Patient>', /unknown element <nope>/, 'unknown element');
  bad('<Patient><active value="true"/></Patient>', /not in the FHIR namespace/, 'no namespace');
  bad('<Nope xmlns="http://hl7.org/fhir"/>', /unknown resource type/, 'unknown type');
  bad('<Patient xmlns="http://hl7.org/fhir"><active value="true"/><active value="false"/></Patient>', /repeats/, 'a 0..1 element twice');
  bad('<Patient xmlns="http://hl7.org/fhir"><active value="true">text</active></Patient>', /text/, 'text content');
  bad('<Patient xmlns="http://hl7.org/fhir"><active/></Patient>', /ele-1/, 'an empty primitive');
  bad('<Patient xmlns="http://hl7.org/fhir"><name foo="1"><family value="F"/></name></Patient>', /unexpected attribute foo/, 'unknown attribute');
});
