// Media types in and out: which bodies Flint parses (FHIR JSON, plain JSON, JSON Patch), which
// format it answers in (_format, Accept), and pretty printing.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FhirError } from '../fhir/errors.js';

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

const XML_FORMATS = /(^|\/|\+)xml$|^xml$|^text\/xml$|^html$|^text\/html$|^ttl$|^text\/turtle$/;

function fromFormatParam(format: string): string {
  const f = format.trim().toLowerCase();
  if (f === 'json' || FHIR_JSON_TYPES.includes(f)) return 'application/fhir+json';
  if (f === 'application/json') return 'application/json';
  if (XML_FORMATS.test(f)) throw new FhirError(406, `_format=${format.slice(0, 40)} is not supported: Flint speaks JSON only (use _format=json)`, 'not-supported');
  throw new FhirError(406, `Unknown _format "${format.slice(0, 40)}"; use json`, 'not-supported');
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

function fromAccept(header: string | undefined): string {
  if (!header || header.trim() === '') return 'application/fhir+json';
  const ranges = parseAccept(header);
  for (const r of ranges) {
    if (r.fhirVersion && !r.fhirVersion.startsWith('4.0')) {
      throw new FhirError(406, `This server speaks FHIR 4.0.1; fhirVersion=${r.fhirVersion.slice(0, 10)} is not available`, 'not-supported');
    }
  }
  const json = ranges.filter((r) => FHIR_JSON_TYPES.includes(r.type) || r.type === 'application/json'
    || r.type === 'application/*' || r.type === '*/*' || r.type === 'text/*' || r.type === 'text/json');
  if (json.length === 0) {
    throw new FhirError(406, 'None of the Accept types can be served: Flint answers in application/fhir+json or application/json (XML is not supported)', 'not-supported');
  }
  json.sort((a, b) => b.q - a.q);
  return json[0]?.type === 'application/json' ? 'application/json' : 'application/fhir+json';
}

export function responseFormat(req: FastifyRequest): ResponseFormat {
  const query = req.query as Record<string, string | string[] | undefined>;
  const fmt = query._format;
  const mediaType = typeof fmt === 'string' && fmt !== '' ? fromFormatParam(fmt) : fromAccept(req.headers.accept);
  const pretty = query._pretty === 'true';
  return { contentType: `${mediaType}; charset=utf-8`, pretty };
}

/** Sends JSON text in the negotiated format, re-indented when `_pretty=true`. */
export function sendJson(req: FastifyRequest, reply: FastifyReply, json: string): FastifyReply {
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
  // Only POST _search takes form parameters; other routes refuse them (415).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, new URLSearchParams(body as string));
  });
}

/** JSON media types a resource body may come in. */
export function isJsonBody(req: FastifyRequest): boolean {
  const ct = contentTypeOf(req);
  return ct === 'application/fhir+json' || ct === 'application/json' || ct === 'application/json+fhir';
}
