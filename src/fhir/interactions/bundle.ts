// batch and transaction (R4 http.html#transaction): a Bundle of requests POSTed to the base. Each
// entry is a request that arrived in a Bundle: it goes through the route table (src/fhir/router.ts)
// to the same interaction or operation as on the wire, with the caller's access policy. A
// transaction is all-or-nothing: processed in the specified order (DELETE, POST, PUT/PATCH, GET)
// inside one store transaction, with temporary ids (urn:uuid:…) and conditional references
// resolved first and rewritten wherever a reference appears. Batch entries stand alone.
// The answer is bounded by size (BUNDLE_RESPONSE_LIMIT) as well as by entry count.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { BundleEntry } from 'fhir/r4.js';
import type { FhirContext } from '../context.js';
import type { FhirRequest, FhirResponse, Match, Method, RouteTable } from '../request.js';
import { entryJson, serializeBundle, type RawEntry } from '../bundle.js';
import { badRequest, FhirError } from '../errors.js';
import { rewriteReferences } from '../references.js';
import { inBundleTransaction, inTransaction } from '../tx.js';
import { matchOne } from './conditional.js';
import { memoOf, rememberingStore } from '../match-memo.js';
import { prefetchIdentifierMatches, type Criterion } from '../match-prefetch.js';
import { isObject, type Json } from '../../fhir-basics/json.js';
import { issue, operationOutcome, outcomeJson, type Issue } from '../../fhir-basics/outcome.js';
import { etagOf } from '../../fhir-basics/etag.js';
import { parseQuery, queryOf, queryString } from '../../fhir-basics/query.js';

export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

/** One entry's request, parsed and routed. */
interface Planned {
  index: number;
  method: Method;
  /** HEAD: answered like GET, without the body. */
  head: boolean;
  /** `METHOD url` for messages. */
  label: string;
  match: Match;
  request: FhirRequest;
  fullUrl?: string;
}

// R4 http.html#transaction: DELETE, then POST, then PUT/PATCH, then GET/HEAD.
const ORDER: Record<Method, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3 };
const ENTRY_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const CONDITIONAL_REF = /^[A-Z][A-Za-z]+\?/;
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** If-None-Exist may carry a leading `Type?` or `?`: the criteria are what follows. */
const ifNoneExistCriteria = (v: string): string => v.replace(/^[^?]*\?/, '');

function statusText(code: number): string {
  return `${code} ${STATUS_CODES[code] ?? ''}`.trim();
}

/** Adds the entry's position to an error, so the caller knows which entry failed. */
function atEntry(err: unknown, index: number, label: string): FhirError {
  const where = `Bundle.entry[${index}]`;
  if (err instanceof FhirError) {
    return new FhirError(err.status, err.issues.map((i) => ({
      ...i,
      diagnostics: `entry ${index} (${label.slice(0, 200)}): ${i.diagnostics}`,
      expression: (i.expression ?? [where]).map((e) => (e.startsWith('Bundle.entry') ? e : `${where}.resource${e.includes('.') ? e.slice(e.indexOf('.')) : ''}`)),
    })), 'processing', err.headers);
  }
  throw err;
}

function errorEntry(err: FhirError): RawEntry {
  return { response: { status: statusText(err.status), outcome: operationOutcome(err.issues) } };
}

/** PATCH entries carry a Binary with the JSON Patch document, base64-encoded (R4 http.html#patch). */
function patchOperations(resource: unknown): unknown {
  if (isObject(resource) && resource.resourceType === 'Binary' && typeof resource.data === 'string') {
    try {
      return JSON.parse(Buffer.from(resource.data, 'base64').toString('utf8'));
    } catch {
      throw badRequest('The Binary of a PATCH entry must hold a JSON Patch document');
    }
  }
  if (isObject(resource) && resource.resourceType === 'Parameters') throw new FhirError(415, 'FHIRPath Patch (Parameters) is not supported; send a JSON Patch in a Binary', 'not-supported');
  throw badRequest('A PATCH entry needs a Binary resource holding a JSON Patch document');
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The response's running size: entries are counted as they are produced, never after the fact. */
class Budget {
  private used = 0;
  constructor(readonly limit: number) {}
  get exhausted(): boolean {
    return this.used >= this.limit;
  }
  /** Counts `entry`; false (and nothing counted) when it would push the answer past the limit. */
  take(entry: RawEntry): boolean {
    const size = Buffer.byteLength(entryJson(entry)) + 1;
    if (this.used + size > this.limit) return false;
    this.used += size;
    return true;
  }
  /** Small answers (errors, refusals) are counted but never refused: the entry count bounds them. */
  force(entry: RawEntry): void {
    this.used += Buffer.byteLength(entryJson(entry)) + 1;
  }
}

class BundleProcessor {
  /** fullUrl (temporary or absolute) → Type/id */
  private readonly identities = new Map<string, string>();

  constructor(private readonly ctx: FhirContext, private readonly prefer: PreferReturn, private readonly table: RouteTable) {}

  parse(body: unknown): { type: 'batch' | 'transaction'; entries: Planned[]; errors: Map<number, FhirError>; count: number } {
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
        entries.push(this.plan(e, index));
      } catch (err) {
        const fe = err instanceof FhirError ? err : badRequest(String(err));
        if (type === 'transaction') throw atEntry(fe, index, 'request');
        errors.set(index, fe);
      }
    });
    return { type, entries, errors, count: raw.length };
  }

  /** An entry → the request it stands for, routed through the same table as HTTP. */
  private plan(e: unknown, index: number): Planned {
    if (!isObject(e)) throw badRequest(`Bundle.entry[${index}] is not an object`);
    const req = (e as BundleEntry).request as unknown;
    if (!isObject(req) || typeof req.method !== 'string' || !ENTRY_METHODS.has(req.method)) {
      throw badRequest('request.method must be GET, HEAD, POST, PUT, PATCH or DELETE');
    }
    if (typeof req.url !== 'string' || req.url === '') throw badRequest('request.url is required');
    let url = req.url;
    const base = `${this.ctx.baseUrl}/`;
    if (url.startsWith(base)) url = url.slice(base.length);
    else if (url === this.ctx.baseUrl) url = '';
    else if (ABSOLUTE.test(url)) throw badRequest(`request.url ${url.slice(0, 100)} is not on this server`);
    url = url.replace(/^\/+/, '');
    const q = url.indexOf('?');
    const path = `/${q >= 0 ? url.slice(0, q) : url}`;
    const head = req.method === 'HEAD';
    const method = (head ? 'GET' : req.method) as Method;
    const label = `${req.method} ${url.split('?')[0] ?? ''}`;
    const match = this.table.find(method, path);
    if (!match) {
      const allowed = this.table.allowed(path);
      if (allowed.length) throw new FhirError(405, `${method} is not allowed on ${path.slice(0, 100)}; allowed: ${allowed.join(', ')}`, 'not-supported');
      throw new FhirError(404, `No such endpoint: ${method} ${path.slice(0, 100)}`, 'not-found');
    }
    // A batch or transaction nested in one, or an asynchronous operation ($export, $import).
    if (match.route.inBundle === false) throw badRequest(`${method} ${path.slice(0, 100)} cannot be a Bundle entry`, 'not-supported');
    const resource = (e as Json).resource;
    if (resource !== undefined && !isObject(resource)) throw badRequest('entry.resource must be a resource');
    let body: unknown;
    switch (match.route.body) {
      case 'resource':
        if (!resource) throw badRequest(`${method} needs entry.resource`);
        body = resource;
        break;
      case 'patch':
        body = patchOperations(resource);
        break;
      case 'optional-json':
        body = resource;
        break;
      default:
        body = undefined;
    }
    const request: FhirRequest = { method, params: match.params, query: parseQuery(queryOf(url)), ...(body !== undefined ? { body } : {}) };
    const ifMatch = text(req.ifMatch);
    const ifNoneExist = text(req.ifNoneExist);
    const ifNoneMatch = text(req.ifNoneMatch);
    const ifModifiedSince = text(req.ifModifiedSince);
    if (ifMatch !== undefined) request.ifMatch = ifMatch;
    if (ifNoneExist !== undefined) request.ifNoneExist = ifNoneExist;
    if (ifNoneMatch !== undefined) request.ifNoneMatch = ifNoneMatch;
    if (ifModifiedSince !== undefined) request.ifModifiedSince = ifModifiedSince;
    const planned: Planned = { index, method, head, label, match, request };
    if (typeof e.fullUrl === 'string') planned.fullUrl = e.fullUrl;
    return planned;
  }

  async run(body: unknown): Promise<string> {
    const { type, entries, errors, count } = this.parse(body);
    const out = new Array<RawEntry | undefined>(count);
    const budget = new Budget(this.ctx.limits.bundleResponseBytes);
    for (const [i, err] of errors) {
      out[i] = errorEntry(err);
      budget.force(out[i] ?? {});
    }
    const ordered = [...entries].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index);
    if (type === 'transaction') {
      await inBundleTransaction(this.ctx, async (inTx) => {
        // Conditional matches found while resolving identities are reused by the entries.
        const tx = { ...inTx, store: rememberingStore(inTx.store) };
        await this.resolveIdentities(tx, entries);
        for (const p of ordered) {
          let entry: RawEntry;
          try {
            entry = this.responseEntry(p, await p.match.route.handler(tx, p.request));
          } catch (err) {
            throw atEntry(err, p.index, p.label);
          }
          // Refused whole, and rolled back: a transaction's answer is all or nothing.
          if (!budget.take(entry)) {
            throw new FhirError(413, `The transaction's response would exceed ${budget.limit} bytes (BUNDLE_RESPONSE_LIMIT) at entry ${p.index}; nothing was changed. Ask for Prefer: return=minimal, or split the Bundle`, 'too-costly');
          }
          out[p.index] = entry;
        }
      });
    } else {
      for (const p of ordered) {
        out[p.index] = await this.batchEntry(p, budget);
      }
    }
    return serializeBundle({ type: type === 'batch' ? 'batch-response' : 'transaction-response', entries: out.filter((e): e is RawEntry => e !== undefined) });
  }

  /** One batch entry, alone in its own transaction, within the response budget. */
  private async batchEntry(p: Planned, budget: Budget): Promise<RawEntry> {
    const tooCostly = (what: string): FhirError => new FhirError(413, `entry ${p.index}: ${what} (BUNDLE_RESPONSE_LIMIT is ${budget.limit} bytes)`, 'too-costly');
    // A read adds nothing but its answer: once the budget is spent it is not run at all, which
    // bounds the work of a batch as well as its size.
    if (p.method === 'GET' && budget.exhausted) {
      const refused = errorEntry(tooCostly('not run: the batch response is already at its size limit'));
      budget.force(refused);
      return refused;
    }
    let entry: RawEntry;
    try {
      entry = this.responseEntry(p, await inTransaction(this.ctx, (tx) => p.match.route.handler(tx, p.request)));
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      const failed = errorEntry(err);
      budget.force(failed);
      return failed;
    }
    if (budget.take(entry)) return entry;
    if (p.method === 'GET') {
      const refused = errorEntry(tooCostly('the answer would push the batch response past its size limit'));
      budget.force(refused);
      return refused;
    }
    // A write that was done says so: its status, location and version stay; only the body goes.
    const { resourceJson: _dropped, ...kept } = entry;
    void _dropped;
    const done: RawEntry = {
      ...kept,
      response: { ...entry.response, status: entry.response?.status ?? '200 OK', outcome: operationOutcome([issue('warning', 'too-costly', `entry ${p.index} was processed (${entry.response?.status ?? ''}); its resource is left out: the batch response reached its size limit (BUNDLE_RESPONSE_LIMIT is ${budget.limit} bytes)`)]) },
    };
    budget.force(done);
    return done;
  }

  private responseEntry(p: Planned, res: FhirResponse): RawEntry {
    const r = res.record;
    const response: NonNullable<RawEntry['response']> = { status: statusText(res.status) };
    if (r) {
      if (res.status === 201) response.location = `${r.type}/${r.id}/_history/${r.versionId}`;
      response.etag = etagOf(r.versionId);
      response.lastModified = r.lastUpdated;
    } else if (res.headers?.location) {
      response.location = res.headers.location;
    }
    const entry: RawEntry = { ...(r ? { fullUrl: `${this.ctx.baseUrl}/${r.type}/${r.id}` } : {}), response };
    let json = res.json ?? (res.write ? r?.json : undefined);
    let outcome: Issue[] | undefined;
    if (res.write) {
      // R4 http.html#ops: Prefer shapes what a write answers.
      if (this.prefer !== 'representation') json = undefined;
      if (this.prefer === 'OperationOutcome') outcome = res.issues ?? [issue('information', 'informational', response.status)];
      else if (this.prefer === 'representation' && json === undefined && res.issues) outcome = res.issues;
    } else if (json === undefined && res.issues) {
      // An operation whose answer is an OperationOutcome ($validate) answers it as the entry's resource.
      json = outcomeJson(res.issues);
    }
    if (outcome) response.outcome = operationOutcome(outcome);
    if (json !== undefined && !p.head && res.status !== 304) entry.resourceJson = json;
    return entry;
  }

  /**
   * Transaction identities: new ids for POSTs (or the match of If-None-Exist), targets of
   * conditional PUTs, and conditional references; then every reference is rewritten.
   */
  private async resolveIdentities(ctx: FhirContext, entries: Planned[]): Promise<void> {
    const claimed = new Set<string>();
    const memo = memoOf(ctx.store);
    if (memo) {
      // Identifier criteria of one type are looked up in one search (src/fhir/match-prefetch.ts).
      const wanted = entries.flatMap((p): Criterion[] => {
        const type = p.request.params.type ?? '';
        if (p.match.route.path !== '/:type') return [];
        if (p.method === 'POST' && p.request.ifNoneExist !== undefined) return [{ type, criteria: ifNoneExistCriteria(p.request.ifNoneExist) }];
        if (p.method === 'PUT') return [{ type, criteria: queryString(p.request.query) }];
        return [];
      });
      await prefetchIdentifierMatches(ctx, memo, wanted);
    }
    for (const p of entries) {
      const { path } = p.match.route;
      const req = p.request;
      const type = req.params.type ?? '';
      const body = isObject(req.body) ? req.body : undefined;
      let target: string | undefined;
      const call = <T>(fn: () => Promise<T>): Promise<T> => fn().catch((err: unknown) => {
        throw atEntry(err, p.index, p.label);
      });
      if (p.method === 'POST' && path === '/:type') {
        // R4 http.html#trules: the id of a created resource is chosen before any entry runs.
        const existing = req.ifNoneExist !== undefined
          ? await call(() => matchOne(ctx, type, ifNoneExistCriteria(req.ifNoneExist ?? ''), 'If-None-Exist'))
          : undefined;
        if (!existing) req.assignedId = randomUUID();
        target = `${type}/${existing?.id ?? req.assignedId ?? ''}`;
      } else if (p.method === 'PUT' && path === '/:type') {
        const existing = await call(() => matchOne(ctx, type, queryString(req.query), 'update'));
        const bodyId = typeof body?.id === 'string' ? body.id : undefined;
        if (!existing && bodyId === undefined) req.assignedId = randomUUID();
        target = `${type}/${existing?.id ?? bodyId ?? req.assignedId ?? ''}`;
      } else if ((p.method === 'PUT' || p.method === 'PATCH' || p.method === 'DELETE') && path === '/:type/:id') {
        target = `${type}/${req.params.id ?? ''}`;
      }
      if (target && p.fullUrl) {
        if (this.identities.has(p.fullUrl)) throw atEntry(badRequest(`fullUrl ${p.fullUrl.slice(0, 100)} appears twice`), p.index, p.label);
        this.identities.set(p.fullUrl, target);
      }
      if (target && p.method !== 'POST') {
        // R4: a transaction must not touch one resource twice.
        if (claimed.has(target)) throw atEntry(badRequest(`${target} is written by more than one entry`), p.index, p.label);
        claimed.add(target);
      }
    }
    for (const p of entries) {
      if (!isObject(p.request.body)) continue;
      const conditional = new Map<string, string>();
      await this.collectConditionalReferences(ctx, p, p.request.body, conditional);
      const map = conditional.size ? new Map([...this.identities, ...conditional]) : this.identities;
      p.request.body = rewriteReferences(p.request.body, map);
    }
  }

  /**
   * Resolves the conditional references (`Type?criteria`) in `body`, in document order. The
   * walk itself is synchronous: only the look-ups wait (a resource has far more nodes than
   * conditional references).
   */
  private async collectConditionalReferences(ctx: FhirContext, p: Planned, body: unknown, out: Map<string, string>): Promise<void> {
    const found: string[] = [];
    conditionalReferences(body, '', found);
    for (const v of found) {
      if (out.has(v)) continue;
      const [type = '', criteria = ''] = v.split('?', 2);
      if (!this.ctx.defs.isResourceType(type)) throw atEntry(badRequest(`Conditional reference ${v.slice(0, 100)}: unknown type`), p.index, p.label);
      let match;
      try {
        match = await matchOne(ctx, type, criteria, `conditional reference ${v.slice(0, 100)}`);
      } catch (err) {
        throw atEntry(err, p.index, p.label);
      }
      if (!match) throw atEntry(new FhirError(412, `Conditional reference ${v.slice(0, 100)} matches no resource`, 'not-found'), p.index, p.label);
      out.set(v, `${type}/${match.id}`);
    }
  }
}

/** Every `reference` string of the form `Type?criteria` in `v`, in document order. */
function conditionalReferences(v: unknown, key: string, found: string[]): void {
  if (Array.isArray(v)) {
    for (const x of v) conditionalReferences(x, key, found);
  } else if (isObject(v)) {
    for (const k in v) conditionalReferences(v[k], k, found);
  } else if (key === 'reference' && typeof v === 'string' && CONDITIONAL_REF.test(v)) {
    found.push(v);
  }
}

/** Runs a batch or transaction Bundle through `table`; the answer is the response Bundle's JSON. */
export async function processBundle(ctx: FhirContext, body: unknown, prefer: PreferReturn, table: RouteTable): Promise<string> {
  return new BundleProcessor(ctx, prefer, table).run(body);
}
