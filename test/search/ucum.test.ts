// Quantity search across comparable UCUM units (R4 search.html#quantity, canonical form):
// mg/dL meets g/L, mmol/L meets umol/L, Cel meets [degF]; different dimensions never meet,
// and units UCUM cannot convert behave as plain codes. Runs on SQLite and (FLINT_TEST_STORE=mingo) MongoDB.
import t from 'tap';
import { testApp, load, ids } from '../helpers/app.js';
import { canonical } from '../../src/search/ucum.js';

const UCUM = 'http://unitsofmeasure.org';
const obs = (id: string, code: string, value: number, unit: string, system: string | null = UCUM) => ({
  resourceType: 'Observation', id, status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  valueQuantity: { value, unit, ...(system ? { system, code: unit } : {}) },
});

const DATA = [
  obs('glu-mgdl', '2345-7', 182, 'mg/dL'),
  obs('glu-gl', '2345-7', 1.5, 'g/L'),
  obs('glu-mmol', '2339-0', 5.5, 'mmol/L'),
  obs('glu-umol', '2339-0', 5500, 'umol/L'),
  obs('wbc', '6690-2', 7.2, '10*9/L'),
  obs('glu-plain', '2345-7', 182, 'mg/dL', null),
  obs('iu', '2000-1', 5, '[iU]/L'),
  obs('temp', '8310-5', 37, 'Cel'),
];

const q = (v: string): string => `/fhir/Observation?value-quantity=${encodeURIComponent(v)}`;
const sorted = (a: string[]): string[] => [...a].sort();

t.test('quantity search compares UCUM quantities in canonical form', async (t) => {
  const app = await testApp(t);
  await load(app, DATA);
  const find = async (v: string): Promise<string[]> => sorted((await ids(app, q(v))).map((x) => x.replace('Observation/', '')));

  t.same(await find(`gt1|${UCUM}|g/L`), ['glu-gl', 'glu-mgdl'], '182 mg/dL and 1.5 g/L are more than 1 g/L; mmol/L is another dimension');
  t.same(await find(`182|${UCUM}|mg/dL`), ['glu-mgdl'], 'same unit, same value');
  t.same(await find(`150|${UCUM}|mg/dL`), ['glu-gl'], '1.5 g/L is 150 mg/dL');
  t.same(await find(`5.5|${UCUM}|mmol/L`), ['glu-mmol', 'glu-umol'], '5500 umol/L is 5.5 mmol/L');
  t.same(await find(`gt5.5|${UCUM}|mmol/L`), [], 'equal is not greater, whatever the unit');
  t.same(await find(`lt6|${UCUM}|mmol/L`), ['glu-mmol', 'glu-umol'], 'a count per litre (10*9/L) is not an amount of substance');
  t.same(await find(`ge0|${UCUM}|mg/dL`), ['glu-gl', 'glu-mgdl'], 'mg/dL never matches mmol/L (no molar mass in UCUM)');
  t.same(await find(`98.6|${UCUM}|[degF]`), ['temp'], '98.6 [degF] is 37 Cel (an affine conversion)');
  t.same(await find(`5|${UCUM}|[iU]/L`), ['iu'], 'arbitrary units still match themselves');
  t.same(await find(`5000|${UCUM}|[iU]/mL`), [], 'arbitrary units are not converted');
  t.same(await find('182||mg/dL'), ['glu-mgdl', 'glu-plain'], 'without the UCUM system: code match as before');
  t.same(await find(`0.0182|${UCUM}|dg/mL`), ['glu-mgdl'], 'any comparable spelling');

  const composite = sorted(await ids(app, `/fhir/Observation?code-value-quantity=${encodeURIComponent(`http://loinc.org|2345-7$gt1|${UCUM}|g/L`)}`));
  t.same(composite, ['Observation/glu-gl'], 'composite code-value-quantity compares values as given (same unit)');
  t.same(sorted(await ids(app, '/fhir/Observation?value-quantity=gt100')), ['Observation/glu-mgdl', 'Observation/glu-plain', 'Observation/glu-umol'], 'a search without unit sees the values as given, never the canonical ones');

  const order = (await ids(app, '/fhir/Observation?_sort=value-quantity&_count=50')).map((x) => x.replace('Observation/', '')).filter((x) => x !== 'glu-plain');
  t.same(order, ['glu-gl', 'iu', 'glu-mmol', 'wbc', 'temp', 'glu-mgdl', 'glu-umol'], 'sorting still uses the values as given');
});

t.test('canonical form: equal quantities through different units give the same value', async (t) => {
  t.same(canonical(5.5, 'mmol/L'), canonical(5500, 'umol/L'));
  t.same(canonical(150, 'mg/dL'), canonical(1.5, 'g/L'));
  t.notSame(canonical(1, 'mmol/L')?.code, canonical(1, '/L')?.code);
  t.notSame(canonical(1, 'mmol/L')?.code, canonical(1, 'mg/dL')?.code);
  t.equal(canonical(1, 'not a unit'), undefined);
  t.equal(canonical(1, '[iU]/L'), undefined);
});
