// A minimal valid instance of any R4 resource type, built from its StructureDefinition: every
// element with min >= 1 gets the simplest value of its type, codes from required bindings. For
// tests that need "a resource of every type" now that cardinality and bindings are enforced.
import type { ElementDefinition } from 'fhir/r4.js';
import type { Definitions } from '../../src/definitions/registry.js';
import { validatorFor } from '../../src/validation/index.js';

type Json = Record<string, unknown>;

const PRIMITIVE: Record<string, unknown> = {
  string: 'x', markdown: 'x', code: 'x', id: 'x1', uri: 'http://example.org/x', url: 'http://example.org/x',
  canonical: 'http://example.org/x', oid: 'urn:oid:1.2.3', uuid: 'urn:uuid:c757873d-ec9a-4326-a141-556f43239520',
  boolean: true, integer: 1, positiveInt: 1, unsignedInt: 1, decimal: 1, date: '2020-01-01', dateTime: '2020-01-01',
  instant: '2020-01-01T00:00:00Z', time: '10:00:00', base64Binary: 'eA==',
};

const COMPLEX: Record<string, Json> = {
  Identifier: { value: 'x' }, Period: { start: '2020-01-01' }, Quantity: { value: 1 }, Age: { value: 1 }, Duration: { value: 1 },
  Money: { value: 1, currency: 'USD' }, HumanName: { text: 'x' }, Address: { text: 'x' }, ContactPoint: { system: 'phone', value: '1' },
  Attachment: { contentType: 'text/plain' }, Annotation: { text: 'x' }, Reference: { display: 'x' }, Timing: { event: ['2020-01-01'] },
  Range: { low: { value: 1 } }, Ratio: { numerator: { value: 1 }, denominator: { value: 1 } }, Narrative: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
  Signature: { type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1' }], when: '2020-01-01T00:00:00Z', who: { display: 'x' } },
  Expression: { language: 'text/fhirpath', expression: 'true' }, Count: { value: 1 }, Distance: { value: 1 },
  SampledData: { origin: { value: 1 }, period: 1, dimensions: 1 }, Dosage: { text: 'x' },
};

/** Types whose invariants (R4) need more than their required elements. */
const INVARIANTS: Record<string, Json> = {
  AllergyIntolerance: { clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] } }, // ait-1
  Appointment: { participant: [{ actor: { display: 'x' }, status: 'accepted' }] }, // app-1
  AppointmentResponse: { actor: { display: 'x' } }, // apr-1
  Bundle: { type: 'collection' }, // bdl-9..11 are about documents
  CapabilityStatement: { kind: 'requirements', description: 'x', rest: [{ mode: 'server' }] }, // cpb-1, cpb-2
  Consent: { policyRule: { text: 'x' } }, // ppc-1
  EventDefinition: { trigger: [{ type: 'named-event', name: 'x' }] }, // trd-3
  ImmunizationRecommendation: { recommendation: [{ vaccineCode: [{ text: 'x' }], forecastStatus: { text: 'x' } }] }, // imr-1
  InsurancePlan: { name: 'x' }, // ipn-1
  Linkage: { item: [{ type: 'source', resource: { display: 'x' } }, { type: 'alternate', resource: { display: 'y' } }] }, // lnk-1
  Organization: { name: 'x' }, // org-1
  StructureDefinition: { differential: { element: [{ id: 'Basic', path: 'Basic' }] }, type: 'Basic' }, // sdf-6, sdf-14
  TerminologyCapabilities: { kind: 'requirements', description: 'x' }, // tcp-2, tcp-3
};

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

function typeOf(el: ElementDefinition): string {
  const t = el.type?.[0];
  if (!t) return 'BackboneElement';
  const ext = t.extension?.find((e) => e.url === FHIR_TYPE_EXT)?.valueUrl;
  return ext ?? (t.code.startsWith('http://hl7.org/fhirpath/System.') ? 'string' : t.code);
}

export function minimalResource(defs: Definitions, type: string, pick = 0): Json {
  const sd = defs.baseDefinition(type);
  const elements = sd?.snapshot?.element ?? [];
  const terminology = validatorFor(defs).conformance.terminology;
  const code = (el: ElementDefinition): { system: string; code: string } | undefined => {
    const vs = el.binding?.strength === 'required' ? el.binding.valueSet : undefined;
    if (!vs) return undefined;
    const concepts = terminology.expansion(vs) ?? [];
    const c = concepts[pick % Math.max(1, concepts.length)];
    return c ? { system: c.system, code: c.code } : undefined;
  };
  const fill = (path: string): Json => {
    const out: Json = {};
    for (const el of elements) {
      if (el.sliceName || (el.min ?? 0) < 1) continue;
      const dot = el.path.lastIndexOf('.');
      if (el.path.slice(0, dot) !== path) continue;
      let name = el.path.slice(dot + 1);
      const t = typeOf(el);
      if (name.endsWith('[x]')) name = name.slice(0, -3) + t.charAt(0).toUpperCase() + t.slice(1);
      let v: unknown;
      const c = code(el);
      // MIME types (BCP-13) are checked by form.
      if (t === 'code') v = c?.code ?? (el.binding?.valueSet?.includes('/mimetypes') ? 'text/plain' : 'x');
      else if (t === 'Coding') v = c ?? { display: 'x' };
      else if (t === 'CodeableConcept') v = c ? { coding: [c] } : { text: 'x' };
      else if (t in PRIMITIVE) v = PRIMITIVE[t];
      else if (t in COMPLEX) v = COMPLEX[t];
      else if (t === 'BackboneElement' || t === 'Element') {
        const inner = fill(el.path);
        v = Object.keys(inner).length ? inner : { id: 'x' };
      } else v = { extension: [{ url: 'http://example.org/x', valueString: 'x' }] };
      out[name] = el.max === '1' ? v : [v];
    }
    return out;
  };
  return { resourceType: type, ...fill(type), ...INVARIANTS[type] };
}
