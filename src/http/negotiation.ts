// Media types in and out: which bodies Flint parses (FHIR JSON, plain JSON, JSON Patch, FHIR XML),
// which format it answers in (_format, Accept), and pretty printing (R4 http.html#mime-type).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FhirError } from '../fhir/errors.js';
import { fromXml } from '../xml/read.js';
import { toXml } from '../xml/write.js';

export const JSON_PATCH = 'application/json-patch+json';
const FHIR_JSON_TYPES = ['application/fhir+json', 'application/json+fhir'];

export interface ResponseFormat {
  /** The Content-Type of a successful answer. */
  contentType: string;
  pretty: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    fhirFormat: ResponseFormat;
  }
}

/** XML media types, as request bodies and as answers; application/xml answers as itself. */
const XML_TYPES = ['application/fhir+xml', 'application/xml+fhir', 'application/xml', 'text/xml'];
const FHIR_XML = 'application/fhir+xml';
const UNSUPPORTED_FORMATS = /^html$|^text\/html$|^ttl$|^text\/turtle$|^application\/x-turtle$/;

function fromFormatParam(format: string): string {
  const f = format.trim().toLowerCase();
  if (f === 'json' || FHIR_JSON_TYPES.includes(f)) return 'application/fhir+json';
  if (f === 'application/json') return 'application/json';
  // R4 http.html#mime-type: _format=xml, text/xml, application/xml and application/fhir+xml.
  if (f === 'xml' || XML_TYPES.includes(f)) return f === 'application/xml' ? 'application/xml' : FHIR_XML;
  if (UNSUPPORTED_FORMATS.test(f)) throw new FhirError(406, `_format=${format.slice(0, 40)} is not supported: Flint speaks JSON and XML (use _format=json or _format=xml)`, 'not-supported');
  throw new FhirError(406, `Unknown _format "${format.slice(0, 40)}"; use json or xml`, 'not-supported');
}

interface MediaRange {
  type: string;
  q: number;
  fhirVersion?: string;
}

function parseAccept(header: string): MediaRange[] {
  return header.split(',').map((part) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim());
    const range: MediaRange = { type: type.toLowerCase(), q: 1 };
    for (const p of params) {
      const [k, v] = p.split('=').map((s) => s.trim());
      if (k === 'q') range.q = Number(v) || 0;
      if (k === 'fhirVersion' && v) range.fhirVersion = v;
    }
    return range;
  }).filter((r) => r.type !== '' && r.q > 0);
}

const WILDCARDS = ['application/*', '*/*', 'text/*'];

/**
 * The best media type of the Accept header. A wildcard (or no Accept) answers in the format of
 * the request body when it is XML, else FHIR JSON.
 */
function fromAccept(header: string | undefined, bodyIsXml: boolean): string {
  const fallback = bodyIsXml ? FHIR_XML : 'application/fhir+json';
  if (!header || header.trim() === '') return fallback;
  const ranges = parseAccept(header);
  for (const r of ranges) {
    if (r.fhirVersion && !r.fhirVersion.startsWith('4.0')) {
      throw new FhirError(406, `This server speaks FHIR 4.0.1; fhirVersion=${r.fhirVersion.slice(0, 10)} is not available`, 'not-supported');
    }
  }
  const served = ranges.filter((r) => FHIR_JSON_TYPES.includes(r.type) || r.type === 'application/json' || r.type === 'text/json'
    || XML_TYPES.includes(r.type) || WILDCARDS.includes(r.type));
  if (served.length === 0) {
    throw new FhirError(406, 'None of the Accept types can be served: Flint answers in application/fhir+json, application/json, application/fhir+xml or application/xml', 'not-supported');
  }
  // Highest q first; among equals, the most specific (a wildcard last), then header order.
  served.sort((a, b) => b.q - a.q || Number(WILDCARDS.includes(a.type)) - Number(WILDCARDS.includes(b.type)));
  const best = served[0]?.type ?? '';
  if (WILDCARDS.includes(best)) return fallback;
  if (best === 'application/json' || best === 'application/xml') return best;
  return XML_TYPES.includes(best) ? FHIR_XML : 'application/fhir+json';
}

/** The answers' formats, made once (they are shared by every request and never changed). */
const formats = new Map<string, ResponseFormat>();
function formatOf(mediaType: string, pretty: boolean): ResponseFormat {
  const key = pretty ? `${mediaType} pretty` : mediaType;
  let f = formats.get(key);
  if (!f) {
    f = Object.freeze({ contentType: `${mediaType}; charset=utf-8`, pretty });
    formats.set(key, f);
  }
  return f;
}
const PLAIN_JSON = formatOf('application/fhir+json', false);

/** Accept headers seen lately and the media type each asks for (a client sends the same one each time). */
const accepted = new Map<string, string>();
const ACCEPTED_MAX = 256;

function mediaTypeOf(accept: string | undefined, bodyIsXml: boolean): string {
  if (bodyIsXml || accept === undefined || accept.length > 1024) return fromAccept(accept, bodyIsXml);
  let m = accepted.get(accept);
  if (m === undefined) {
    m = fromAccept(accept, false); // a refusal (406) throws and is not kept
    if (accepted.size >= ACCEPTED_MAX) accepted.clear();
    accepted.set(accept, m);
  }
  return m;
}

export function responseFormat(req: FastifyRequest): ResponseFormat {
  const query = req.query as Record<string, string | string[] | undefined>;
  const fmt = query._format;
  const pretty = query._pretty === 'true';
  const bodyIsXml = req.headers['content-type'] !== undefined && isXmlBody(req);
  // The common request: no _format, no Accept (or any), no XML body.
  if (fmt === undefined && !pretty && !bodyIsXml && req.headers.accept === undefined) return PLAIN_JSON;
  const mediaType = typeof fmt === 'string' && fmt !== '' ? fromFormatParam(fmt) : mediaTypeOf(req.headers.accept, bodyIsXml);
  return formatOf(mediaType, pretty);
}

/** True when the negotiated answer is XML. */
export function wantsXml(format: ResponseFormat | null | undefined): boolean {
  return format?.contentType.includes('xml') ?? false;
}

/**
 * Sends a resource (JSON text) in the negotiated format: re-indented when `_pretty=true`, or
 * converted to FHIR XML when XML was asked for (R4 xml.html; `_pretty` does not indent XML).
 */
export function sendJson(req: FastifyRequest, reply: FastifyReply, json: string): FastifyReply {
  if (wantsXml(req.fhirFormat)) return reply.type(req.fhirFormat.contentType).send(toXml(req.ctx.defs, JSON.parse(json)));
  const body = req.fhirFormat.pretty ? JSON.stringify(JSON.parse(json), null, 2) : json;
  return reply.type(req.fhirFormat.contentType).send(body);
}

/** The essence of the request's Content-Type (no parameters), lower case. */
export function contentTypeOf(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Registers the body parsers. JSON goes through Fastify's secure parser (a `__proto__` or
 * `constructor.prototype` key is refused), with a precise message when the JSON is broken.
 */
/** NDJSON media types (Bulk Data IG: application/fhir+ndjson; the others are common aliases). */
export const NDJSON_TYPES = ['application/fhir+ndjson', 'application/ndjson', 'application/x-ndjson'];

export function registerParsers(app: FastifyInstance): void {
  const secure = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/fhir+json', 'application/json+fhir', JSON_PATCH],
    { parseAs: 'string' },
    (req, body, done) => {
      secure(req, body as string, (err: Error | null, value?: unknown) => {
        if (!err) return done(null, value);
        if ((err as { code?: string }).code !== 'FST_ERR_CTP_INVALID_JSON_BODY') return done(err, undefined);
        let why = 'it contains a forbidden "__proto__" or "constructor.prototype" key';
        try {
          JSON.parse(body as string);
        } catch (parseErr) {
          why = parseErr instanceof Error ? parseErr.message.slice(0, 200) : 'syntax error';
        }
        done(new FhirError(400, `The body is not valid JSON: ${why}`, 'structure'), undefined);
      });
    },
  );
  // FHIR XML bodies become FHIR JSON before any route runs, so every route (and Bundles) takes
  // them. The request's context (with the definitions) is set by the onRequest hook.
  app.addContentTypeParser(XML_TYPES, { parseAs: 'string' }, (req, body, done) => {
    try {
      done(null, fromXml(req.ctx.defs, body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  // Only POST _search takes form parameters; other routes refuse them (415).
  // NDJSON ($import): kept as text, split into lines by the operation (bounded by BODY_LIMIT).
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    done(null, body as string);
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, new URLSearchParams(body as string));
  });
}

/** True when the request body is FHIR XML (by its Content-Type). */
export function isXmlBody(req: FastifyRequest): boolean {
  return XML_TYPES.includes(contentTypeOf(req));
}

/** Media types a resource body may come in: JSON, or XML (already converted to JSON by its parser). */
export function isJsonBody(req: FastifyRequest): boolean {
  const ct = contentTypeOf(req);
  return ct === 'application/fhir+json' || ct === 'application/json' || ct === 'application/json+fhir' || XML_TYPES.includes(ct);
}
