// Literal references (R4 references.html#literal): relative `Type/id`, absolute
// `http://host/base/Type/id`, either with an optional `/_history/vid`. One parser for all layers.
import { ID_SOURCE, TYPE_SOURCE } from './ids.js';

export interface ParsedReference {
  type: string;
  id: string;
  /** The version, when the reference names one (`/_history/3`). */
  version?: string;
  /** The service base of an absolute reference, without a trailing slash; absent when relative. */
  base?: string;
}

const LITERAL = new RegExp(`^(?:(https?://.+?)/)?(${TYPE_SOURCE})/(${ID_SOURCE})(?:/_history/(${ID_SOURCE}))?$`);

/** Parses a literal reference; undefined for anything else (`#contained`, `urn:uuid:`, conditional, malformed). */
export function parseReference(reference: string): ParsedReference | undefined {
  if (reference.length > 2048) return undefined;
  const m = LITERAL.exec(reference);
  if (!m?.[2] || !m[3]) return undefined;
  const out: ParsedReference = { type: m[2], id: m[3] };
  if (m[4]) out.version = m[4];
  if (m[1]) out.base = m[1];
  return out;
}

/**
 * A reference to a resource on this server: relative, or absolute under `baseUrl` (no trailing
 * slash). Undefined for references elsewhere and for anything that is not a literal reference.
 */
export function parseLocalReference(reference: string, baseUrl: string): ParsedReference | undefined {
  const local = reference.startsWith(`${baseUrl}/`) ? reference.slice(baseUrl.length + 1) : reference;
  const parsed = parseReference(local);
  return parsed && parsed.base === undefined ? parsed : undefined;
}

/** `Type/id` of a parsed reference (the version dropped). */
export function referenceKey(ref: { type: string; id: string }): string {
  return `${ref.type}/${ref.id}`;
}
