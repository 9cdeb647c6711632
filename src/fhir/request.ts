// A FHIR request and its answer as plain data: what an HTTP request and a Bundle entry both become
// before the route table (src/fhir/router.ts) sends them to an interaction or operation.
import type { VersionRecord } from '../store/port.js';
import type { Issue } from '../fhir-basics/outcome.js';
import type { QueryPairs } from '../fhir-basics/query.js';
import type { FhirContext } from './context.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a route's body is: it decides the media types HTTP accepts and how a Bundle entry supplies it. */
export type BodyKind =
  | 'none'
  /** A FHIR resource (application/fhir+json); in a Bundle, entry.resource. */
  | 'resource'
  /** A JSON Patch document; in a Bundle, a Binary holding it (R4 http.html#patch). */
  | 'patch'
  /** Form parameters (POST _search), joined to the query; none in a Bundle. */
  | 'form'
  /** Optional JSON (an operation's Parameters or resource); in a Bundle, entry.resource. */
  | 'optional-json'
  /** NDJSON text (application/fhir+ndjson), or a Parameters resource; not in a Bundle ($import). */
  | 'ndjson';

export interface FhirRequest {
  method: Method;
  /** Path parameters of the matched route (`type`, `id`, `vid`, …). */
  params: Readonly<Record<string, string | undefined>>;
  /** Query parameters in order, repeats kept (R4 search.html: repetition is AND). */
  query: QueryPairs;
  /** The headers FHIR gives a meaning to (R4 http.html; Bundle.entry.request carries the same). */
  ifMatch?: string;
  ifNoneExist?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  prefer?: string;
  body?: unknown;
  /**
   * Inside a transaction: the id chosen up front for a resource this request creates, so that
   * other entries can refer to it (R4 http.html#trules).
   */
  assignedId?: string;
}

export interface FhirResponse {
  status: number;
  /** The version the answer is about: its ETag and Last-Modified; Location on 201. */
  record?: VersionRecord;
  /** The body as JSON text (a resource, a Bundle, Parameters). */
  json?: string;
  /** An OperationOutcome: the body when there is no `json`, or when Prefer asks for it. */
  issues?: Issue[];
  headers?: Record<string, string>;
  /**
   * A body that is not a FHIR resource (the Bulk Data manifest, NDJSON files), sent as is; an
   * iterable is streamed chunk by chunk (memory flat in its size).
   */
  raw?: { contentType: string; body: string | AsyncIterable<string> };
  /** A write: Prefer: return=minimal | representation | OperationOutcome shapes the body (R4 http.html#ops). */
  write?: boolean;
}

export type Handler = (ctx: FhirContext, request: FhirRequest) => Promise<FhirResponse>;

export interface Route {
  method: Method;
  /** Relative to the base, find-my-way syntax: `/:type/:id/_history/:vid`. */
  path: string;
  body: BodyKind;
  handler: Handler;
  /** False for routes a Bundle entry may not use (the batch/transaction endpoint itself: no nesting). */
  inBundle?: boolean;
}

/** A route found for a method and path, with its path parameters. */
export interface Match {
  route: Route;
  params: Record<string, string | undefined>;
}

/** What a Bundle needs of the route table (src/fhir/router.ts) to send its entries through it. */
export interface RouteTable {
  find(method: Method, path: string): Match | undefined;
  allowed(path: string): Method[];
}
