// $reindex: start a reindex (POST) and read the progress of reindex jobs (GET). Jobs also
// start on their own when a SearchParameter is created, changed or deleted.
import type { FastifyInstance } from 'fastify';
import type { Parameters, ParametersParameter } from 'fhir/r4.js';
import type { FhirContext } from '../../fhir/context.js';
import type { ReindexJob } from '../../fhir/reindex.js';
import { FhirError } from '../../fhir/errors.js';
import { requireAdmin } from '../../fhir/access.js';
import { sendJson } from '../negotiation.js';

function jobParameter(job: ReindexJob): ParametersParameter {
  const part: ParametersParameter[] = [
    { name: 'id', valueString: job.id },
    { name: 'state', valueCode: job.state },
    { name: 'reason', valueString: job.reason },
    { name: 'types', valueString: job.types ? job.types.join(',') : '*' },
    { name: 'done', valueInteger: job.done },
    { name: 'total', valueInteger: job.total },
    { name: 'started', valueInstant: job.started },
  ];
  if (job.finished) part.push({ name: 'finished', valueInstant: job.finished });
  if (job.error) part.push({ name: 'error', valueString: job.error });
  return { name: 'job', part };
}

const parameters = (jobs: ReindexJob[]): Parameters => ({ resourceType: 'Parameters', parameter: jobs.map(jobParameter) });

export function reindexRoutes(app: FastifyInstance, ctx: FhirContext): void {
  app.get<{ Querystring: { job?: string } }>('/$reindex', async (req, reply) => {
    requireAdmin(req.ctx, 'reading reindex jobs');
    const id = req.query.job;
    if (id !== undefined) {
      const job = req.ctx.jobs.get(id);
      if (!job) throw new FhirError(404, `No reindex job ${id.slice(0, 60)}`, 'not-found');
      return sendJson(req, reply, JSON.stringify(parameters([job])));
    }
    return sendJson(req, reply, JSON.stringify(parameters(req.ctx.jobs.list())));
  });
  app.post<{ Querystring: { _type?: string } }>('/$reindex', async (req, reply) => {
    requireAdmin(req.ctx, 'starting a reindex');
    const types = req.query._type ? req.query._type.split(',').map((t) => t.trim()).filter(Boolean) : undefined;
    for (const t of types ?? []) if (!req.ctx.defs.isResourceType(t)) throw new FhirError(400, `Unknown resource type "${t.slice(0, 60)}"`, 'invalid');
    const job = req.ctx.jobs.start(types, 'requested through $reindex');
    reply.code(202).header('content-location', `${req.ctx.baseUrl}/$reindex?job=${job.id}`);
    return sendJson(req, reply, JSON.stringify(parameters([job])));
  });
}
