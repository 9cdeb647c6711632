// $export kick-off (Bulk Data Access IG v2.0.0, export.html#bulk-data-kick-off-request): checks
// the request and the caller's rights, fixes the snapshot time and queues a job in the store
// (kind 'export'); answers 202 with the status URL in Content-Location.
import { randomUUID } from 'node:crypto';
import type { FhirContext } from '../fhir/context.js';
import type { FhirResponse } from '../fhir/request.js';
import type { WorkStore } from '../store/work.js';
import { accessConstraint, assertVisible, requirePerm } from '../fhir/access.js';
import { FhirError, badRequest, notFound, gone } from '../fhir/errors.js';
import { assertId } from '../fhir/resource.js';
import { storeCall } from '../fhir/store-errors.js';
import { issue } from '../fhir-basics/outcome.js';
import { isObject } from '../fhir-basics/json.js';
import { parsePrefer } from '../fhir-basics/prefer.js';
import { queryString, type QueryPairs } from '../fhir-basics/query.js';
import { compartmentParams } from './everything.js';
import { kickoffParams, parseKickoff, type ExportLevel } from './export-request.js';
import { storePolicy } from './export-policy.js';
import type { ExportState } from './export-state.js';

export interface KickoffInput {
  level: ExportLevel;
  groupId?: string;
  method: 'GET' | 'POST';
  query: QueryPairs;
  body?: unknown;
  prefer?: string;
}

/** Exports a client may have queued or running at once; more answer 429 (IG: servers may limit). */
export const MAX_ACTIVE_EXPORTS = 5;

function path(input: KickoffInput): string {
  if (input.level === 'system') return '$export';
  if (input.level === 'patient') return 'Patient/$export';
  return `Group/${input.groupId ?? ''}/$export`;
}

/** Group.member entities of a stored Group that are Patients on this server (inactive members left out). */
function membersOf(ctx: FhirContext, json: string | undefined): string[] {
  const group = json === undefined ? undefined : JSON.parse(json) as { member?: unknown[] };
  const out = new Set<string>();
  for (const m of group?.member ?? []) {
    if (!isObject(m) || m.inactive === true || !isObject(m.entity)) continue;
    const ref = m.entity.reference;
    if (typeof ref !== 'string') continue;
    const local = ref.startsWith(`${ctx.baseUrl}/`) ? ref.slice(ctx.baseUrl.length + 1) : ref;
    const match = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(local);
    if (match?.[1]) out.add(match[1]);
  }
  return [...out];
}

/**
 * The Group's members now; with `since`, those who joined after it first (IG v2.0.0
 * group-export, _since: their data may be returned whole), and how many they are.
 */
async function groupMembers(ctx: FhirContext, id: string, since: string | undefined): Promise<{ members: string[]; joined: number }> {
  assertId(id);
  const found = await storeCall(() => ctx.store.read('Group', id));
  if (found.status === 'missing') throw notFound(`Group/${id} is not known`);
  if (found.status === 'deleted') throw gone(`Group/${id} was deleted`);
  await assertVisible(ctx, 'r', 'Group', id);
  const members = membersOf(ctx, found.record.json);
  if (since === undefined) return { members, joined: 0 };
  // Members at _since: those of the Group's version current then (none if it did not exist).
  const then = (await storeCall(() => ctx.store.history({ type: 'Group', id, before: since, count: 1 }))).records[0];
  const before = new Set(then && !then.deleted ? membersOf(ctx, then.json) : []);
  const joined = members.filter((m) => !before.has(m));
  return { members: [...joined, ...members.filter((m) => before.has(m))], joined: joined.length };
}

/** Patients scanned together in one step of a Patient or Group export. */
const PATIENTS_PER_STEP = 50;

export async function kickoff(ctx: FhirContext, work: WorkStore, input: KickoffInput, now: () => number = Date.now): Promise<FhirResponse> {
  const prefer = parsePrefer(input.prefer);
  // IG export.html#headers: Prefer: respond-async is required.
  if (!prefer.respondAsync) throw badRequest('$export runs asynchronously: send Prefer: respond-async (Bulk Data IG export.html#headers)');
  const compartment = [...new Set(['Patient', ...Object.keys(compartmentParams(ctx, 'Patient'))])];
  const levelTypes = input.level === 'system' ? ctx.defs.resourceTypes : compartment;
  const params = kickoffParams(input.query, input.body, input.method === 'POST');
  const request = parseKickoff(ctx, {
    level: input.level, ...(input.groupId !== undefined ? { groupId: input.groupId } : {}),
    params, lenient: prefer.handling === 'lenient', levelTypes,
  });
  // Access: types named in _type must be readable; otherwise the readable ones are exported.
  const access = accessConstraint(ctx);
  if (access) {
    if (params.some(([k]) => k === '_type')) for (const t of request.types) requirePerm(ctx, 'r', t);
    else request.types = request.types.filter((t) => access.types[t] ?? access.otherTypes);
    if (request.types.length === 0) throw new FhirError(403, 'The access token allows reading none of the types this export covers', 'forbidden');
  }
  let scopes: string[] | undefined;
  let joined = 0;
  if (input.level === 'group') {
    const group = await groupMembers(ctx, input.groupId ?? '', request.since);
    scopes = group.members;
    if (request.patients) {
      const wanted = new Set(request.patients);
      joined = group.members.slice(0, group.joined).filter((p) => wanted.has(p)).length;
      scopes = scopes.filter((p) => wanted.has(p));
    } else joined = group.joined;
  } else if (request.patients) {
    for (const p of request.patients) await assertVisible(ctx, 'r', 'Patient', p);
    scopes = request.patients;
  }
  const clientId = ctx.access?.clientId;
  if (ctx.access) {
    const active = await storeCall(() => work.listJobs('export', ['queued', 'running']));
    const mine = active.filter((j) => (j.data as Partial<ExportState>).policy?.clientId === clientId);
    if (mine.length >= MAX_ACTIVE_EXPORTS) {
      throw new FhirError(429, `This client already has ${mine.length} exports queued or running; wait for one to finish`, 'throttled', { 'retry-after': '30' });
    }
  }
  const id = randomUUID();
  const query = queryString(input.query);
  const state: ExportState = {
    request,
    transactionTime: new Date(now()).toISOString(),
    requestUrl: `${ctx.baseUrl}/${path(input)}${query ? `?${query}` : ''}`,
    ...(ctx.access ? { policy: storePolicy(ctx.access) } : {}),
    ...(scopes ? { scopes, perStep: PATIENTS_PER_STEP } : {}),
    ...(joined > 0 ? { newMembers: joined } : {}),
    step: 0,
    outputs: [],
    exported: 0,
  };
  await storeCall(() => work.addJob('export', id, state as unknown as Record<string, unknown>, now()));
  return {
    status: 202,
    headers: { 'content-location': `${ctx.baseUrl}/$export-status/${id}` },
    issues: [issue('information', 'informational', `Export queued: ${request.types.length} types${scopes ? `, ${scopes.length} patients` : ''}; poll Content-Location for its status`), ...request.warnings],
  };
}
