// batch and transaction (R4 http.html#transaction): a Bundle of requests POSTed to the base.
// A transaction is all-or-nothing: processed in the specified order (DELETE, POST, PUT/PATCH,
// GET) inside one store transaction, with temporary ids (urn:uuid:…) and conditional
// references resolved and rewritten wherever a reference appears. Batch entries stand alone.
import { randomUUID } from 'node:crypto';
import type { BundleEntry } from 'fhir/r4.js';
import type { VersionRecord } from '../../store/port.js';
import type { FhirContext } from '../context.js';
import type { RawBundle, RawEntry } from '../bundle.js';
import { serializeBundle } from '../bundle.js';
import { badRequest, FhirError } from '../errors.js';
import { assertId, isObject } from '../resource.js';
import { matchCriteria } from '../criteria.js';
import { rewriteReferences } from '../references.js';
import { inTransaction } from '../tx.js';
import { create, remove, update } from './write.js';
import { patch } from './patch.js';
import { read, vread } from './read.js';
import { search } from './search.js';
import { history } from './history.js';
import { conditionalDelete } from './conditional.js';

export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One entry's request, parsed. */
interface Planned {
  index: number;
  method: Method;
  /** Path relative to the base, without query. */
  path: string[];
  query: string;
  fullUrl?: string;
  resource?: Record<string, unknown>;
  ifNoneExist?: string;
  ifMatch?: string;
  /** Id chosen up front for a POST (or a conditional PUT that creates). */
  assignedId?: string;
  /** Set when a conditional create matched an existing resource. */
  existing?: VersionRecord;
}

/** A finished entry of the response. */
interface Done {
  status: string;
  record?: VersionRecord;
  resourceJson?: string;
  outcome?: string;
}

const ORDER: Record<Method, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };
const METHODS = new Set(Object.keys(ORDER));
const TEMP_ID = /^urn:(uuid|oid):/;
const CONDITIONAL_REF = /^[A-Z][A-Za-z]+\?/;

function statusText(code: number): string {
  const text: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 410: 'Gone', 412: 'Precondition Failed', 422: 'Unprocessable Entity', 500: 'Internal Server Error' };
  return `${code} ${text[code] ?? ''}`.trim();
}

function outcomeJson(severity: 'error' | 'information' | 'warning', code: string, message: string, expression?: string): string {
  return JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics: message, ...(expression ? { expression: [expression] } : {}) }] });
}

/** Adds the entry's position to an error, so the caller knows which entry failed. */
function atEntry(err: unknown, p: Planned): FhirError {
  const where = `Bundle.entry[${p.index}]`;
  const label = `entry ${p.index} (${p.method} ${[p.path.join('/'), p.query].filter(Boolean).join('?')})`;
  if (err instanceof FhirError) {
    return new FhirError(err.status, err.issues.map((i) => ({
      ...i,
      diagnostics: `${label}: ${i.diagnostics}`,
      expression: (i.expression ?? [where]).map((e) => (e.startsWith('Bundle.entry') ? e : `${where}.resource${e.includes('.') ? e.slice(e.indexOf('.')) : ''}`)),
    })), 'processing', err.headers);
  }
  throw err;
}

export class BundleProcessor {
  /** fullUrl (temporary or absolute) → Type/id */
  private readonly identities = new Map<string, string>();

  constructor(private readonly ctx: FhirContext, private readonly prefer: PreferReturn) {}

  parse(body: unknown): { type: 'batch' | 'transaction'; entries: Planned[]; errors: Map<number, FhirError> } {
    if (!isObject(body) || body.resourceType !== 'Bundle') throw badRequest('POST to the base takes a Bundle of type batch or transaction', 'structure');
    const type = body.type;
    if (type !== 'batch' && type !== 'transaction') {
      throw badRequest(`Bundle.type must be batch or transaction here (got ${String(type).slice(0, 40)}); to store a Bundle as a resource, POST it to /Bundle`);
    }
    const raw = body.entry === undefined ? [] : body.entry;
    if (!Array.isArray(raw)) throw badRequest('Bundle.entry must be an array', 'structure');
    if (raw.length > this.ctx.limits.bundleEntries) {
      throw new FhirError(413, `The Bundle has ${raw.length} entries; this server takes at most ${this.ctx.limits.bundleEntries} (BUNDLE_MAX_ENTRIES)`, 'too-costly');
    }
    const entries: Planned[] = [];
    const errors = new Map<number, FhirError>();
    raw.forEach((e: unknown, index: number) => {
      try {
        entries.push(this.plan(e as BundleEntry, index));
      } catch (err) {
        const fe = err instanceof FhirError ? err : badRequest(String(err));
        if (type === 'transaction') throw atEntry(fe, { index, method: 'GET', path: [], query: '' });
        errors.set(index, fe);
      }
    });
    return { type, entries, errors };
  }

  private plan(e: BundleEntry, index: number): Planned {
    if (!isObject(e)) throw badRequest(`Bundle.entry[${index}] is not an object`);
    const req = e.request;
    if (!isObject(req) || typeof req.method !== 'string' || !METHODS.has(req.method)) {
      throw badRequest('request.method must be GET, HEAD, POST, PUT, PATCH or DELETE');
    }
    if (typeof req.url !== 'string' || req.url === '') throw badRequest('request.url is required');
    let url = req.url;
    const base = `${this.ctx.baseUrl}/`;
    if (url.startsWith(base)) url = url.slice(base.length);
    else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw badRequest(`request.url ${url.slice(0, 100)} is not on this server`);
    url = url.replace(/^\//, '');
    const q = url.indexOf('?');
    const path = (q >= 0 ? url.slice(0, q) : url).split('/').filter(Boolean);
    const query = q >= 0 ? url.slice(q + 1) : '';
    const method = req.method as Method;
    const planned: Planned = { index, method, path, query };
    if (typeof e.fullUrl === 'string') planned.fullUrl = e.fullUrl;
    if (e.resource !== undefined) {
      if (!isObject(e.resource)) throw badRequest('entry.resource must be a resource');
      planned.resource = e.resource as Record<string, unknown>;
    }
    if (typeof req.ifNoneExist === 'string') planned.ifNoneExist = req.ifNoneExist;
    if (typeof req.ifMatch === 'string') {
      const m = /^\s*(?:W\/)?"([^"]+)"\s*$/.exec(req.ifMatch);
      if (!m?.[1]) throw badRequest('request.ifMatch must be an ETag such as W/"3"');
      planned.ifMatch = m[1];
    }
    if ((method === 'POST' || method === 'PUT') && !planned.resource) throw badRequest(`${method} needs entry.resource`);
    if (method === 'POST' && path.length !== 1) throw badRequest('POST entries take a type URL ("Patient"); operations are not supported in Bundles');
    if ((method === 'PUT' || method === 'DELETE' || method === 'PATCH') && !(path.length === 2 || (path.length === 1 && query))) {
      throw badRequest(`${method} entries take Type/id or Type?criteria`);
    }
    if (path[0] && method !== 'GET' && method !== 'HEAD' && !this.ctx.defs.isResourceType(path[0])) {
      throw new FhirError(404, `Unknown resource type "${path[0].slice(0, 60)}"`, 'not-found');
    }
    return planned;
  }

  async run(body: unknown): Promise<RawBundle> {
    const { type, entries, errors } = this.parse(body);
    const done = new Map<number, Done>();
    if (type === 'transaction') {
      await inTransaction(this.ctx, async (tx) => {
        const checks: (() => Promise<void>)[] = [];
        const txCtx: FhirContext = { ...tx, checks };
        await this.resolveIdentities(txCtx, entries);
        for (const p of [...entries].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index)) {
          try {
            done.set(p.index, await this.execute(txCtx, p));
          } catch (err) {
            throw atEntry(err, p);
          }
        }
        // Integrity checks run once every entry is written: targets may come later in the Bundle.
        for (const check of checks) await check();
      });
    } else {
      for (const p of [...entries].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index)) {
        try {
          done.set(p.index, await inTransaction(this.ctx, (tx) => this.execute(tx, p)));
        } catch (err) {
          if (!(err instanceof FhirError)) throw err;
          errors.set(p.index, err);
        }
      }
    }
    const total = Math.max(entries.length + errors.size, 0);
    const out: RawEntry[] = [];
    for (let i = 0; i < total; i++) {
      const d = done.get(i);
      const err = errors.get(i);
      if (err) {
        out.push({ response: { status: statusText(err.status), outcome: JSON.parse(JSON.stringify({ resourceType: 'OperationOutcome', issue: err.issues })) } });
        continue;
      }
      if (!d) continue;
      out.push(this.responseEntry(d));
    }
    return { type: type === 'batch' ? 'batch-response' : 'transaction-response', entries: out };
  }

  private responseEntry(d: Done): RawEntry {
    const r = d.record;
    const entry: RawEntry = {
      ...(r ? { fullUrl: `${this.ctx.baseUrl}/${r.type}/${r.id}` } : {}),
      response: {
        status: d.status,
        ...(r && d.status.startsWith('201') ? { location: `${r.type}/${r.id}/_history/${r.versionId}` } : {}),
        ...(r ? { etag: `W/"${r.versionId}"`, lastModified: r.lastUpdated } : {}),
      },
    };
    const json = d.resourceJson ?? r?.json;
    if (this.prefer === 'OperationOutcome' || d.outcome) {
      const oo = d.outcome ?? outcomeJson('information', 'informational', d.status);
      (entry.response as { outcome?: unknown }).outcome = JSON.parse(oo);
    }
    if (this.prefer === 'representation' && json !== undefined) entry.resourceJson = json;
    return entry;
  }

  /**
   * Transaction identities: new ids for POSTs (or the match of If-None-Exist), targets of
   * conditional PUTs, and conditional references; then every reference is rewritten.
   */
  private async resolveIdentities(ctx: FhirContext, entries: Planned[]): Promise<void> {
    const claimed = new Set<string>();
    for (const p of entries) {
      const type = p.path[0] ?? '';
      let target: string | undefined;
      if (p.method === 'POST') {
        if (p.ifNoneExist) {
          const matches = await this.entryCall(p, () => matchCriteria(ctx, type, p.ifNoneExist?.replace(/^[^?]*\?/, '') ?? '', 2));
          if (matches.length > 1) throw atEntry(new FhirError(412, 'If-None-Exist matches several resources', 'multiple-matches'), p);
          if (matches[0]) p.existing = matches[0];
        }
        p.assignedId = p.existing?.id ?? randomUUID();
        target = `${type}/${p.assignedId}`;
      } else if (p.method === 'PUT' && p.path.length === 1) {
        const matches = await this.entryCall(p, () => matchCriteria(ctx, type, p.query, 2));
        if (matches.length > 1) throw atEntry(new FhirError(412, 'The update criteria match several resources', 'multiple-matches'), p);
        const bodyId = typeof p.resource?.id === 'string' ? p.resource.id : undefined;
        p.assignedId = matches[0]?.id ?? bodyId ?? randomUUID();
        target = `${type}/${p.assignedId}`;
      } else if ((p.method === 'PUT' || p.method === 'PATCH' || p.method === 'DELETE') && p.path.length === 2) {
        target = `${type}/${p.path[1]}`;
      }
      if (target && p.fullUrl) {
        if (this.identities.has(p.fullUrl)) throw atEntry(badRequest(`fullUrl ${p.fullUrl.slice(0, 100)} appears twice`), p);
        this.identities.set(p.fullUrl, target);
      }
      if (target && p.method !== 'POST') {
        // R4: a transaction must not touch one resource twice.
        if (claimed.has(target)) throw atEntry(badRequest(`${target} is written by more than one entry`), p);
        claimed.add(target);
      }
    }
    for (const p of entries) {
      if (!p.resource) continue;
      const conditional = new Map<string, string>();
      await this.collectConditionalReferences(ctx, p, p.resource, conditional);
      const map = new Map([...this.identities, ...conditional]);
      p.resource = rewriteReferences(p.resource, map);
    }
  }

  private async collectConditionalReferences(ctx: FhirContext, p: Planned, v: unknown, out: Map<string, string>, key = ''): Promise<void> {
    if (Array.isArray(v)) {
      for (const x of v) await this.collectConditionalReferences(ctx, p, x, out, key);
      return;
    }
    if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) await this.collectConditionalReferences(ctx, p, x, out, k);
      return;
    }
    if (key !== 'reference' || typeof v !== 'string' || !CONDITIONAL_REF.test(v) || out.has(v)) return;
    const [type = '', criteria = ''] = v.split('?', 2);
    if (!this.ctx.defs.isResourceType(type)) throw atEntry(badRequest(`Conditional reference ${v.slice(0, 100)}: unknown type`), p);
    const matches = await this.entryCall(p, () => matchCriteria(ctx, type, criteria, 2));
    if (matches.length !== 1) {
      // A POST in this Bundle with the same If-None-Exist creates the target.
      if (matches.length === 0) {
        throw atEntry(new FhirError(412, `Conditional reference ${v.slice(0, 100)} matches no resource`, 'not-found'), p);
      }
      throw atEntry(new FhirError(412, `Conditional reference ${v.slice(0, 100)} matches several resources`, 'multiple-matches'), p);
    }
    out.set(v, `${type}/${matches[0]?.id}`);
  }

  private async entryCall<T>(p: Planned, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw atEntry(err, p);
    }
  }

  private async execute(ctx: FhirContext, p: Planned): Promise<Done> {
    const [type = '', id, third, fourth] = p.path;
    switch (p.method) {
      case 'DELETE': {
        if (!id) {
          const { deleted } = await conditionalDelete(ctx, type, p.query);
          return { status: statusText(204), outcome: outcomeJson('information', 'informational', `Deleted ${deleted.length} ${type}`) };
        }
        const r = await remove(ctx, type, id, p.ifMatch);
        return { status: statusText(204), ...(r.record ? { record: r.record } : {}), outcome: outcomeJson(r.status === 'deleted' ? 'information' : 'warning', 'informational', r.status === 'deleted' ? `Deleted ${type}/${id}` : `${type}/${id} ${r.status === 'missing' ? 'did not exist' : 'was already deleted'}`) };
      }
      case 'POST': {
        if (p.existing) return { status: statusText(200), record: p.existing };
        const record = await create(ctx, type, p.resource, p.assignedId);
        return { status: statusText(201), record };
      }
      case 'PUT': {
        const targetId = id ?? p.assignedId ?? '';
        assertId(targetId);
        const body = { ...(p.resource ?? {}), ...(id ? {} : { id: targetId }) };
        const { record, created } = await update(ctx, { type, id: targetId, body, ...(p.ifMatch !== undefined ? { ifMatch: p.ifMatch } : {}) });
        return { status: statusText(created ? 201 : 200), record };
      }
      case 'PATCH': {
        const ops = patchOperations(p.resource);
        let targetId = id;
        if (!targetId) {
          const matches = await matchCriteria(ctx, type, p.query, 2);
          if (matches.length !== 1) throw new FhirError(matches.length ? 412 : 404, `The patch criteria match ${matches.length} resources`, matches.length ? 'multiple-matches' : 'not-found');
          targetId = matches[0]?.id ?? '';
        }
        const record = await patch(ctx, { type, id: targetId, body: ops, ...(p.ifMatch !== undefined ? { ifMatch: p.ifMatch } : {}) });
        return { status: statusText(200), record };
      }
      case 'GET':
      case 'HEAD':
        return this.get(ctx, p, type, id, third, fourth);
    }
  }

  private async get(ctx: FhirContext, p: Planned, type: string, id?: string, third?: string, fourth?: string): Promise<Done> {
    const params = [...new URLSearchParams(p.query).entries()];
    if (!type || type === '_history') {
      const bundle = type === '_history' ? await history(ctx, { params: Object.fromEntries(params) }) : await search(ctx, { params, handling: 'lenient' });
      return { status: statusText(200), resourceJson: serializeBundle(bundle) };
    }
    if (!id) return { status: statusText(200), resourceJson: serializeBundle(await search(ctx, { type, params, handling: 'lenient' })) };
    if (id === '_history') return { status: statusText(200), resourceJson: serializeBundle(await history(ctx, { type, params: Object.fromEntries(params) })) };
    if (third === undefined) return { status: statusText(200), record: await read(ctx, type, id) };
    if (third === '_history' && fourth) return { status: statusText(200), record: await vread(ctx, type, id, fourth) };
    if (third === '_history') return { status: statusText(200), resourceJson: serializeBundle(await history(ctx, { type, id, params: Object.fromEntries(params) })) };
    if (ctx.defs.isResourceType(third) || third === '*') {
      const bundle = await search(ctx, { ...(third === '*' ? {} : { type: third }), params, handling: 'lenient', compartment: { type, id } });
      return { status: statusText(200), resourceJson: serializeBundle(bundle) };
    }
    throw badRequest(`GET ${p.path.join('/').slice(0, 100)} is not supported in a Bundle`, 'not-supported');
  }
}

/** PATCH entries carry a Binary with the JSON Patch document, base64-encoded (R4 http.html#patch). */
function patchOperations(resource: Record<string, unknown> | undefined): unknown {
  if (resource?.resourceType === 'Binary' && typeof resource.data === 'string') {
    try {
      return JSON.parse(Buffer.from(resource.data, 'base64').toString('utf8'));
    } catch {
      throw badRequest('The Binary of a PATCH entry must hold a JSON Patch document');
    }
  }
  if (resource?.resourceType === 'Parameters') throw new FhirError(415, 'FHIRPath Patch (Parameters) is not supported; send a JSON Patch in a Binary', 'not-supported');
  throw badRequest('A PATCH entry needs a Binary resource holding a JSON Patch document');
}

export async function processBundle(ctx: FhirContext, body: unknown, prefer: PreferReturn = 'representation'): Promise<RawBundle> {
  return new BundleProcessor(ctx, prefer).run(body);
}
