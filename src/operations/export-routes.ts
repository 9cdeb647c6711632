// Bulk Data routes for the route table (src/fhir/router.ts): kick-off at system, Patient and
// Group level (GET, or POST with Parameters), status polling and cancellation, file downloads.
// None may be a Bundle entry: the asynchronous pattern answers with a status URL, not a result.
import type { FhirContext } from '../fhir/context.js';
import type { Route } from '../fhir/request.js';
import type { WorkStore } from '../store/work.js';
import { kickoff } from './export-kickoff.js';
import { cancelExport, exportFile, exportStatus } from './export-status.js';

/** The store's background-work port (jobs and their files). */
const workOf = (ctx: FhirContext): WorkStore => ctx.store.work;

/** `onQueued`: a job was queued (the job runner looks at the queue at once rather than at its next poll). */
export function exportRoutes(onQueued: () => void = () => undefined): Route[] {
  const routes: Route[] = [];
  const levels = [['system', '/$export'], ['patient', '/Patient/$export'], ['group', '/Group/:id/$export']] as const;
  for (const [level, path] of levels) {
    for (const method of ['GET', 'POST'] as const) {
      routes.push({
        method, path, body: 'optional-json', inBundle: false,
        handler: async (ctx, req) => {
          const res = await kickoff(ctx, workOf(ctx), {
            level, method, query: req.query,
            ...(req.params.id !== undefined ? { groupId: req.params.id } : {}),
            ...(req.body !== undefined ? { body: req.body } : {}),
            ...(req.prefer !== undefined ? { prefer: req.prefer } : {}),
          });
          onQueued();
          return res;
        },
      });
    }
  }
  routes.push(
    { method: 'GET', path: '/$export-status/:job', body: 'none', inBundle: false, handler: async (ctx, req) => exportStatus(ctx, workOf(ctx), req.params.job ?? '') },
    { method: 'DELETE', path: '/$export-status/:job', body: 'none', inBundle: false, handler: async (ctx, req) => cancelExport(ctx, workOf(ctx), req.params.job ?? '') },
    { method: 'GET', path: '/$export-file/:job/:name', body: 'none', inBundle: false, handler: async (ctx, req) => exportFile(ctx, workOf(ctx), req.params.job ?? '', req.params.name ?? '') },
  );
  return routes;
}

/** The CapabilityStatement's operations for Bulk Data (IG v2.0.0 CapabilityStatement-bulk-data). */
export const BULK_CAPABILITIES: { resource?: string; name: string; definition: string; documentation: string }[] = [
  { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export', documentation: 'Bulk Data export of every type the token may read (Prefer: respond-async; NDJSON files; _type, _since, _typeFilter, _elements).' },
  { resource: 'Patient', name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export', documentation: 'Bulk Data export of the Patient compartment types; POST `patient` narrows to given patients.' },
  { resource: 'Group', name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export', documentation: 'Bulk Data export of the compartments of the Group\'s Patient members.' },
  { name: 'import', definition: 'urn:flint:operation:import', documentation: 'POST NDJSON (application/fhir+ndjson) or Parameters (ndjson, resource parts): each resource validated and written with its id; an OperationOutcome lists what loaded and what was refused.' },
];

/** The IG's server CapabilityStatement this server implements. */
export const BULK_DATA_SERVER = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data|2.0.0';
