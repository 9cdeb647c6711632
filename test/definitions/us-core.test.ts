// US Core as a FHIR package (../shared/corpus/us-core): loaded from PROFILES_DIR as the .tgz the
// IG publishes, its examples validate against the profiles they claim, its search parameters
// work like the base ones, and the CapabilityStatement names the US Core server statement.
import t from 'tap';
import { mkdtempSync, symlinkSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDefinitions } from '../../src/definitions/registry.js';
import { loadUserDefinitions } from '../../src/definitions/load.js';
import { readPackageTgz, untar } from '../../src/definitions/package.js';
import { validateResource } from '../../src/validation/index.js';
import { testApp, put, body, ids } from '../helpers/app.js';

const CORPUS = join(process.cwd(), '..', 'shared', 'corpus', 'us-core');
const TGZ = join(CORPUS, 'hl7.fhir.us.core-6.1.0.tgz');
const absent = existsSync(TGZ) ? false : 'the US Core corpus is absent';
const dir = mkdtempSync(join(tmpdir(), 'flint-uscore-'));
if (!absent) symlinkSync(TGZ, join(dir, 'hl7.fhir.us.core-6.1.0.tgz'));

t.test('US Core 6.1.0 loads from PROFILES_DIR as a .tgz', { skip: absent }, async (t) => {
  const defs = loadDefinitions(dir);
  t.same(defs.rejected, []);
  t.same(defs.packages.map((p) => `${p.name}#${p.version}`), ['hl7.fhir.us.core#6.1.0']);
  t.ok(defs.structureDefinition('http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'));
  t.ok(defs.structureDefinition('http://hl7.org/fhir/us/core/StructureDefinition/us-core-race'), 'extensions');
  t.ok(defs.valueSet('http://hl7.org/fhir/us/core/ValueSet/us-core-problem-or-health-concern'), 'value sets');
  t.ok(defs.codeSystem('http://hl7.org/fhir/us/core/CodeSystem/condition-category'), 'code systems');
  t.ok(defs.searchParameters('Patient').some((p) => p.code === 'race'), 'search parameters');
});

t.test('every example of US Core 6.1.0 validates against the profiles it claims', { skip: absent }, async (t) => {
  const defs = loadDefinitions(dir);
  const pkg = readPackageTgz(TGZ);
  let profiled = 0;
  let valid = 0;
  for (const e of pkg.examples) {
    const r = JSON.parse(e.text) as { meta?: { profile?: string[] } };
    if (r.meta?.profile?.length) profiled++;
    const issues = validateResource(defs, r);
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    t.same(errors, [], e.path);
    // A claimed profile Flint did not know would only be a warning: none may be missing.
    t.notOk(issues.some((i) => /^Profile .*us\/core.* is not known/.test(i.diagnostics ?? '')), `${e.path}: every US Core profile it claims is known`);
    if (errors.length === 0) valid++;
  }
  t.comment(`US Core 6.1.0: ${valid} of ${pkg.examples.length} examples valid (${profiled} claim a profile)`);
  t.equal(pkg.examples.length, 183);
});

t.test('US Core search parameters work after loading (Patient?race=)', { skip: absent }, async (t) => {
  const app = await testApp(t, { PROFILES_DIR: dir });
  const race = (code: string) => ({
    url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
    extension: [{ url: 'ombCategory', valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code } }, { url: 'text', valueString: code }],
  });
  t.equal((await put(app, '/fhir/Patient/a', { resourceType: 'Patient', id: 'a', extension: [race('2106-3')] })).statusCode, 201);
  t.equal((await put(app, '/fhir/Patient/b', { resourceType: 'Patient', id: 'b', extension: [race('2054-5')] })).statusCode, 201);
  t.same(await ids(app, '/fhir/Patient?race=2106-3'), ['Patient/a']);
  // US Core's expression indexes the code alone (…extension.value.code), without its system.
  t.same(await ids(app, '/fhir/Patient?race=2054-5,0000-0'), ['Patient/b']);
  const cs = body(await app.inject('/fhir/metadata'));
  t.ok(cs.instantiates?.includes('http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|6.1.0'), 'the CapabilityStatement names US Core\'s server statement');
  // The package's value sets are served by the terminology operations.
  const ex = body(await app.inject('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/us/core/ValueSet/us-core-problem-or-health-concern'));
  t.same(ex.expansion.contains.map((c: { code: string }) => c.code), ['problem-list-item', 'health-concern']);
});

t.test('two versions of one package: the highest is loaded, the other reported', { skip: absent }, async (t) => {
  const two = mkdtempSync(join(tmpdir(), 'flint-uscore2-'));
  symlinkSync(TGZ, join(two, 'a.tgz'));
  symlinkSync(join(CORPUS, 'hl7.fhir.us.core-3.1.1.tgz'), join(two, 'b.tgz'));
  // The choice is made reading the directory; the R4 core it is added to plays no part in it.
  const defs = loadUserDefinitions(two);
  t.same(defs.packages.map((p) => p.version), ['6.1.0']);
  t.match(defs.rejected, [{ reason: /3\.1\.1 not loaded: 6\.1\.0/ }]);
});

t.test('a broken or hostile package is reported, not loaded, and the server still starts', async (t) => {
  const bad = mkdtempSync(join(tmpdir(), 'flint-badpkg-'));
  writeFileSync(join(bad, 'garbage.tgz'), 'not gzip at all');
  mkdirSync(join(bad, 'unpacked', 'package'), { recursive: true });
  writeFileSync(join(bad, 'unpacked', 'package', 'package.json'), '{"name": 1}');
  const defs = loadUserDefinitions(bad);
  t.equal(defs.packages.length, 0);
  t.equal(defs.rejected.length, 2);
  // A tar entry claiming more bytes than the archive holds.
  const header = Buffer.alloc(512);
  header.write('package/x.json', 0);
  header.write('77777777777', 124);
  header[156] = '0'.charCodeAt(0);
  t.throws(() => untar(Buffer.concat([header, Buffer.alloc(512)])), /corrupt/);
  const app = await testApp(t, { PROFILES_DIR: bad });
  t.equal((await app.inject('/fhir/metadata')).statusCode, 200);
});

/**
 * The other two US Core versions of the corpus, each loaded alone. The examples US Core 3.1.1
 * ships that are not valid R4 or break the IG's own profile, with the reason (corpus README:
 * list the exceptions, never skip them silently).
 */
const NOT_VALID: Record<string, Record<string, RegExp>> = {
  '3.1.1': {
    // "EQH/..AgME": '.' is no base64 character (R4 datatypes.html#base64Binary).
    'package/example/DiagnosticReport-cardiology-report.json': /presentedForm\[0\]\.hash/,
    // An entry's fullUrl must be absolute (R4 bundle.html#bundle-unique): "/Medication/uscore-med2" is not.
    'package/example/Bundle-uscore-mo3.json': /fullUrl/,
    // The 3.1.1 pulse-oximetry profile fixes FlowRate's unit to L/min while keeping the required
    // binding to ucum-vitals-common, which has no L/min: the profile contradicts itself.
    'package/example/Observation-satO2-fiO2.json': /ucum-vitals-common/,
  },
  '7.0.0': {},
};

for (const [version, notValid] of Object.entries(NOT_VALID)) {
  const tgz = join(CORPUS, `hl7.fhir.us.core-${version}.tgz`);
  t.test(`every example of US Core ${version} validates against the profiles it claims, but the listed exceptions`, { skip: existsSync(tgz) ? false : 'the US Core corpus is absent' }, async (t) => {
    const alone = mkdtempSync(join(tmpdir(), 'flint-uscore-v-'));
    symlinkSync(tgz, join(alone, `hl7.fhir.us.core-${version}.tgz`));
    const defs = loadDefinitions(alone);
    t.same(defs.rejected, []);
    const pkg = readPackageTgz(tgz);
    let valid = 0;
    for (const e of pkg.examples) {
      const issues = validateResource(defs, JSON.parse(e.text));
      const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
      const why = notValid[e.path];
      if (why) t.ok(errors.some((i) => why.test(`${i.expression?.[0] ?? ''} ${i.diagnostics ?? ''}`)), `${e.path}: refused for the listed reason`);
      else t.same(errors, [], e.path);
      t.notOk(issues.some((i) => /^Profile .*us\/core.* is not known/.test(i.diagnostics ?? '')), `${e.path}: every US Core profile it claims is known`);
      if (errors.length === 0) valid++;
    }
    t.comment(`US Core ${version}: ${valid} of ${pkg.examples.length} examples valid`);
    t.equal(valid, pkg.examples.length - Object.keys(notValid).length);
  });
}
