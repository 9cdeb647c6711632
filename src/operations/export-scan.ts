// One page of an export's snapshot scan: the versions of one type as they stood at the export's
// transactionTime, read by keyset over the change sequence (history, newest first; the cursor is
// a sequence number, never an OFFSET), so a page costs the same at the millionth resource as at
// the first and memory stays flat.
//
// The guarantee (README: Bulk Data): every resource whose version current at transactionTime T
// is live is exported exactly once per scope, in that version; nothing written after T appears.
// A version v read from history (lastUpdated <= T) is the one current at T when no later
// version of the resource has lastUpdated <= T. Most are confirmed in one batched search (the
// resource's current version is v itself and matches the filters and the caller's access);
// the rest, resources changed after T, by reading the version that follows v. For those, the
// filters (_typeFilter, compartment, granular scopes) are judged on the resource's current
// version, and a resource deleted after T is exported only by an unfiltered, unrestricted scan:
// the index holds current versions only.
import type { FhirContext } from '../fhir/context.js';
import { ENGINE_SEARCH_BUDGET_MS, type AccessConstraint, type CompartmentConstraint, type Expr, type SearchQuery } from '../search/ir.js';
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
  /** One patient's compartment (Patient/Group level with patients). */
  compartment?: CompartmentConstraint;
}

export interface ScanPage {
  records: VersionRecord[];
  /** Cursor of the next page; absent at the end of the type. */
  next?: string;
}

const and = (parts: Expr[]): Expr => (parts.length === 1 ? parts[0] ?? { and: [] } : { and: parts });

function query(scope: ScanScope, ids: string[], upToT: boolean): SearchQuery {
  const at = Date.parse(scope.at);
  const where: Expr[] = [{ cond: { kind: 'id', ids } }];
  if (upToT) where.push({ cond: { kind: 'lastUpdated', prefix: 'le', start: at, end: at } });
  if (scope.filter) where.push(scope.filter);
  return {
    types: [scope.type], where: and(where), sort: [], count: ids.length, total: 'none', include: [], revinclude: [], budgetMs: ENGINE_SEARCH_BUDGET_MS,
    ...(scope.access ? { access: scope.access } : {}), ...(scope.compartment ? { compartment: scope.compartment } : {}),
  };
}

/** The access constraint that narrows the history scan itself (the search below is authoritative). */
function historyAccess(scope: ScanScope): AccessConstraint | undefined {
  if (!scope.compartment) return scope.access;
  const own = scope.access?.types[scope.type] ?? scope.access?.otherTypes;
  return { types: { [scope.type]: { ...own, inCompartment: true } }, compartment: scope.compartment };
}

export async function scanPage(ctx: FhirContext, scope: ScanScope, count: number, cursor?: string): Promise<ScanPage> {
  const hAccess = historyAccess(scope);
  const page = await storeCall(() => ctx.store.history({
    type: scope.type, before: scope.at, count, ...(scope.since ? { since: scope.since } : {}), ...(cursor ? { cursor } : {}), ...(hAccess ? { access: hAccess } : {}),
  }));
  const live = page.records.filter((r) => !r.deleted && r.lastUpdated <= scope.at);
  const out: VersionRecord[] = [];
  if (live.length > 0) {
    const ids = [...new Set(live.map((r) => r.id))];
    // Current versions written by T that pass the filters and the caller's access, in one query.
    const current = new Map((await storeCall(() => ctx.store.search(query(scope, ids, true)))).records.map((r) => [r.id, r.versionId]));
    const changed: VersionRecord[] = [];
    for (const r of live) {
      const cur = current.get(r.id);
      if (cur === r.versionId) out.push(r);
      else if (cur === undefined) changed.push(r);
      // else: a later version, also written by T, is the one current at T.
    }
    if (changed.length > 0) {
      const restricted = scope.filter !== undefined || scope.access !== undefined || scope.compartment !== undefined;
      const visible = restricted
        ? new Set((await storeCall(() => ctx.store.search(query(scope, [...new Set(changed.map((r) => r.id))], false)))).records.map((r) => r.id))
        : undefined;
      for (const r of changed) {
        const following = await storeCall(() => ctx.store.vread(scope.type, r.id, String(Number(r.versionId) + 1)));
        // No following version: r is current, and the search above did not keep it (filters).
        if (!following || following.lastUpdated <= scope.at) continue;
        if (visible && !visible.has(r.id)) continue;
        out.push(r);
      }
    }
  }
  return { records: out, ...(page.next ? { next: page.next } : {}) };
}
