// Generated resources for the benchmarks: realistic size and shape, deterministic by index.
export function samplePatient(i: number): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'http://bench.example/mrn', value: `MRN-${i}` }],
    active: true,
    name: [{ use: 'official', family: `Family${i % 500}`, given: [`Given${i}`, 'Middle'] }],
    telecom: [{ system: 'phone', value: `+1-555-${String(i).padStart(7, '0')}`, use: 'home' }],
    gender: i % 2 ? 'female' : 'male',
    birthDate: `19${String(40 + (i % 60)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
    address: [{ line: [`${i} Main Street`], city: 'Springfield', state: 'IL', postalCode: '62701', country: 'US' }],
  };
}

const LABS = [['2339-0', 'Glucose [Mass/volume] in Blood', 'mg/dL'], ['4548-4', 'Hemoglobin A1c', '%'], ['8867-4', 'Heart rate', '/min']] as const;

export function sampleObservation(i: number, patientRef = `Patient/p${i % 1000}`): Record<string, unknown> {
  const [code, display, unit] = LABS[i % LABS.length] ?? LABS[0];
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code, display }], text: display },
    subject: { reference: patientRef },
    effectiveDateTime: new Date(Date.UTC(2020, 0, 1) + i * 3_600_000).toISOString(),
    valueQuantity: { value: 50 + (i % 100), unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

/** Alternating patients and observations. */
export function sampleResource(i: number): Record<string, unknown> {
  return i % 2 ? sampleObservation(i) : samplePatient(i);
}

/**
 * One patient with a long record: the generated records of `templates` patients
 * (scripts/generate-data.ts), all pointing at patient `id`, about 100 resources per template.
 */
export function largeRecord<R extends { resourceType: string; id: string }>(records: R[][], id: string): R[] {
  const out: R[] = [];
  records.forEach((record, k) => {
    const own = record.find((r) => r.resourceType === 'Patient');
    for (const r of record) {
      if (r === own) {
        if (k === 0) out.push({ ...r, id } as R);
        continue;
      }
      const text = own ? JSON.stringify(r).replaceAll(`"Patient/${own.id}"`, `"Patient/${id}"`) : JSON.stringify(r);
      out.push(JSON.parse(text) as R);
    }
  });
  return out;
}
