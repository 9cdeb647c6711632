// The OperationDefinitions of the clinic workflow's operations (R4 operationdefinition.html),
// served at [base]/OperationDefinition/[id] and named by the CapabilityStatement. Claim/$submit
// is R4's own (http://hl7.org/fhir/OperationDefinition/Claim-submit).
import type { OperationDefinition, OperationDefinitionParameter } from 'fhir/r4.js';
import type { ExtraOperation } from '../fhir/interactions/capabilities.js';

type Param = Pick<OperationDefinitionParameter, 'name' | 'use' | 'min' | 'max' | 'type' | 'documentation'>;

interface Spec {
  id: string;
  code: string;
  resource: string[];
  system: boolean;
  type: boolean;
  instance: boolean;
  affectsState: boolean;
  description: string;
  parameter: Param[];
}

const outcome: Param = { name: 'outcome', use: 'out', min: 1, max: '1', type: 'OperationOutcome', documentation: 'What was done, and warnings (e.g. codes no ChargeItemDefinition prices)' };

/** An operation on one resource instance that changes what is stored. */
const onInstance = (id: string, code: string, resource: string, description: string, parameter: Param[]): Spec =>
  ({ id, code, resource: [resource], system: false, type: false, instance: true, affectsState: true, description, parameter });

const out = (name: string, type: string, max: string, documentation: string): Param => ({ name, use: 'out', min: max === '*' ? 0 : 1, max, type, documentation });
const optional = (p: Param): Param => ({ ...p, min: 0 });

const SPECS: Spec[] = [
  onInstance('Encounter-charge', 'charge', 'Encounter',
    'Creates ChargeItems for the encounter\'s coded services (Encounter.type, completed Procedures, final laboratory/procedure Observations, completed MedicationAdministrations), priced by the active ChargeItemDefinitions whose code holds the service\'s code. Idempotent. Also run when an Encounter becomes finished.',
    [out('chargeItem', 'ChargeItem', '*', 'Every ChargeItem of the encounter, the new ones included'), outcome]),
  onInstance('Encounter-bill', 'bill', 'Encounter',
    'Turns the encounter\'s billable ChargeItems into a professional Claim to the patient\'s insurer (when the patient has an active Coverage) and an Invoice for the patient\'s share; the ChargeItems become billed.',
    [optional(out('claim', 'Claim', '1', 'Absent when the patient has no active Coverage')), optional(out('invoice', 'Invoice', '1', 'Absent when the patient owes nothing')), outcome]),
  onInstance('Claim-submit-to-payer', 'submit-to-payer', 'Claim',
    'Sends the Claim with its supporting resources to the configured payer\'s Claim/$submit (PAYER_URL) and records the ClaimResponse; the patient\'s Invoice is updated to the adjudicated share and issued.',
    [out('claimResponse', 'ClaimResponse', '1', 'The payer\'s answer, as recorded here'), optional(out('invoice', 'Invoice', '1', 'The patient\'s Invoice for the claim, when there is one')), outcome]),
  {
    id: 'practice-report', code: 'practice-report', resource: ['Appointment', 'Claim', 'ClaimResponse', 'Invoice'], system: true, type: false, instance: false, affectsState: false,
    description: 'Practice figures over a period: appointment volume by status, no-show rate, claims by status, billed, paid and patient-invoiced totals.',
    parameter: [
      { name: 'start', use: 'in', min: 1, max: '1', type: 'date', documentation: 'First day of the period (inclusive)' },
      { name: 'end', use: 'in', min: 1, max: '1', type: 'date', documentation: 'Last day of the period (inclusive)' },
      out('return', 'Parameters', '1', 'The figures (see the README)'),
    ],
  },
];

export function operationDefinitions(baseUrl: string): OperationDefinition[] {
  return SPECS.map((s) => ({
    resourceType: 'OperationDefinition',
    id: s.id,
    url: `${baseUrl}/OperationDefinition/${s.id}`,
    name: s.id.replace(/[^A-Za-z0-9]/g, ''),
    title: `$${s.code}`,
    status: 'active',
    kind: 'operation',
    description: s.description,
    affectsState: s.affectsState,
    code: s.code,
    resource: s.resource,
    system: s.system,
    type: s.type,
    instance: s.instance,
    parameter: s.parameter,
  } as OperationDefinition));
}

/** The CapabilityStatement entries of the clinic operations (Claim/$submit is R4's own definition). */
export function capabilityOperations(baseUrl: string): ExtraOperation[] {
  const single = SPECS.filter((s) => s.resource.length === 1).map((s) => ({
    resource: s.resource[0], name: s.code, definition: `${baseUrl}/OperationDefinition/${s.id}`, documentation: s.description,
  }));
  const report = SPECS.filter((s) => s.system).map((s) => ({ name: s.code, definition: `${baseUrl}/OperationDefinition/${s.id}`, documentation: s.description }));
  return [
    ...single,
    { resource: 'Claim', name: 'submit', definition: 'http://hl7.org/fhir/OperationDefinition/Claim-submit', documentation: 'Flint as a payer: a Claim, or a Bundle of a Claim and its supporting resources, is validated, stored and adjudicated (eligible = net, patient share from the Coverage); the ClaimResponse is stored and answered.' },
    ...report,
  ];
}
