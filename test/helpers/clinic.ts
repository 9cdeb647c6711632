// The clinic workflow's test data: the demo clinic plus the fee schedule (fixtures/).
import { readFileSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { load, clinic, FHIR } from './app.js';

export function feeSchedule(): { resourceType: string; id: string }[] {
  const b = JSON.parse(readFileSync(new URL('../../fixtures/fee-schedule.json', import.meta.url), 'utf8')) as { entry: { resource: { resourceType: string; id: string } }[] };
  return b.entry.map((e) => e.resource);
}

export async function loadClinic(app: FastifyInstance): Promise<void> {
  await load(app, clinic());
  await load(app, feeSchedule());
}

export async function patchJson(app: FastifyInstance, url: string, ops: unknown[]): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'PATCH', url, payload: JSON.stringify(ops), headers: { 'content-type': 'application/json-patch+json' } });
}

export async function operation(app: FastifyInstance, url: string, payload?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}), headers: payload !== undefined ? { 'content-type': FHIR } : {} });
}

/** The resources of a Parameters answer with this name. */
export function outputs<T = Record<string, any>>(params: { parameter?: { name: string; resource?: unknown }[] }, name: string): T[] {
  return (params.parameter ?? []).filter((p) => p.name === name).map((p) => p.resource as T);
}

export const CPT = 'http://www.ama-assn.org/go/cpt';
export const LOINC = 'http://loinc.org';
export const LAB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };
export const VITALS = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };

/** The fee schedule and Dr Smith's Schedule with free Slots `slot-a` (9:00) and `slot-b` (10:00) on 2026-12-14. */
export async function loadFeesAndSlots(app: FastifyInstance): Promise<void> {
  await load(app, feeSchedule());
  await load(app, [
    { resourceType: 'Schedule', id: 'sch', active: true, actor: [{ reference: 'Practitioner/pr-smith' }] },
    { resourceType: 'Slot', id: 'slot-a', schedule: { reference: 'Schedule/sch' }, status: 'free', start: '2026-12-14T09:00:00Z', end: '2026-12-14T09:30:00Z' },
    { resourceType: 'Slot', id: 'slot-b', schedule: { reference: 'Schedule/sch' }, status: 'free', start: '2026-12-14T10:00:00Z', end: '2026-12-14T10:30:00Z' },
  ] as never[]);
}
