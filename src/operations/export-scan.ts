// One page of an export's snapshot scan: the versions of one type as they stood at the export's
// transactionTime T, read by keyset over the change sequence (history, newest first; the cursor
// is a sequence number, never an OFFSET), so a page costs the same at the millionth resource as
// at the first and memory stays flat.
//
// The guarantee (README: Bulk Data): every resource whose version current at T is live is
// exported exactly once per scope, in that version; nothing written after T appears. The store
// does it in the scan itself (HistoryQuery.snapshot): a version read from history (lastUpdated
// <= T) is kept when no later version of the resource has lastUpdated <= T. The filters
// (_typeFilter, the patients' compartments, granular scopes) go into the same query as an access
// constraint, judged on the resource's current version (the index holds current versions only):
// so a resource deleted after T is exported only by an unfiltered, unrestricted scan.
import type { FhirContext } from '../fhir/context.js';
import type { AccessConstraint, Expr, TypeAccess } from '../search/ir.js';
import type { VersionRecord } from '../store/port.js';
import { storeCall } from '../fhir/store-errors.js';

export interface ScanScope {
  type: string;
  /** T, the export's transactionTime (FHIR instant). */
  at: string;
  since?: string;
  filter?: Expr;
  /** The caller's access policy as the store applies it; absent: unrestricted. */
  access?: AccessConstraint;
  /** Patients' compartments, any of them (Patient/Group level with patients): an Expr from patientsExpr. */
  patients?: Expr;
}

export interface ScanPage {
  records: VersionRecord[];
  /** Cursor of the next page; absent at the end of the type. */
  next?: string;
}

/**
 * Resources of `type` in the compartment of any of `patients` (R4 compartmentdefinition-patient:
 * a Patient is its own; another type is in it through any of its compartment parameters), as a
 * filter; `params` as compartmentParams gives them. Undefined: the type has no such parameter.
 */
export function patientsExpr(params: Record<string, string[]>, type: string, patients: readonly string[]): Expr | undefined {
  if (type === 'Patient') return { cond: { kind: 'id', ids: [...patients] } };
  const refs = params[type] ?? [];
  if (refs.length === 0 || patients.length === 0) return undefined;
  return { or: refs.flatMap((param) => patients.map((id): Expr => ({ cond: { kind: 'reference', param, type: 'Patient', id } }))) };
}

const NOTHING: Expr = { or: [] };

/**
 * The access constraint of the scan: the caller's own for the type (its compartment included),
 * narrowed to the patients' compartments and to the _typeFilter. Absent when nothing restricts it.
 */
export function scanAccess(scope: ScanScope): AccessConstraint | undefined {
  if (!scope.patients && !scope.filter) return scope.access;
  const own: TypeAccess | undefined = scope.access ? scope.access.types[scope.type] ?? scope.access.otherTypes : { inCompartment: false };
  if (!own) return { types: {} };
  const filters = [own.filter, scope.filter, scope.patients].filter((f): f is Expr => f !== undefined);
  const filter: Expr = filters.length === 1 ? filters[0] ?? NOTHING : { and: filters };
  return {
    types: { [scope.type]: { inCompartment: own.inCompartment, filter } },
    ...(scope.access?.compartment ? { compartment: scope.access.compartment } : {}),
  };
}

export async function scanPage(ctx: FhirContext, scope: ScanScope, count: number, cursor?: string): Promise<ScanPage> {
  const access = scanAccess(scope);
  const page = await storeCall(() => ctx.store.history({
    type: scope.type, before: scope.at, snapshot: true, count,
    ...(scope.since ? { since: scope.since } : {}), ...(cursor ? { cursor } : {}), ...(access ? { access } : {}),
  }));
  return { records: page.records, ...(page.next ? { next: page.next } : {}) };
}
