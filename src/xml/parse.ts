// Well-formed XML text → a small element tree, with saxes (a maintained, strict, namespace-aware
// streaming parser that never expands entities beyond the five XML ones). Hostile XML is refused
// before it costs anything: any DOCTYPE (so no external or expanding entities: billion laughs,
// XXE), more depth, elements or attributes than the limits, non-whitespace text where FHIR XML
// has none. XHTML elements (the narrative div) are kept as their exact source text.
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { FhirError } from '../fhir/errors.js';
import { XHTML_NS } from './model.js';

export interface XmlNode {
  name: string;
  ns: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  /** The exact source text of an XHTML element (`<div xmlns=…>…</div>`). */
  raw?: string;
}

export interface XmlLimits {
  /** Deepest element nesting. */
  maxDepth: number;
  /** Elements in the whole document. */
  maxElements: number;
  /** Attributes on one element. */
  maxAttributes: number;
}

export const DEFAULT_LIMITS: XmlLimits = { maxDepth: 200, maxElements: 2_000_000, maxAttributes: 64 };

function refuse(msg: string): never {
  throw new FhirError(400, `The body is not acceptable FHIR XML: ${msg}`, 'structure');
}

/** Parses `text` into its root element, or throws FhirError 400. */
export function parseXml(text: string, limits: XmlLimits = DEFAULT_LIMITS): XmlNode {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  let count = 0;
  /** While inside XHTML: the depth at which it started and where its source text begins. */
  let xhtml: { depth: number; start: number } | undefined;
  let problem: string | undefined;
  const stop = (msg: string): void => {
    problem ??= msg;
  };

  parser.on('doctype', () => stop('a DOCTYPE is not allowed (no DTDs, no entity declarations)'));
  parser.on('processinginstruction', (pi) => {
    if (pi.target.toLowerCase() !== 'xml-stylesheet') stop(`processing instruction <?${pi.target.slice(0, 20)}?> is not allowed`);
  });
  parser.on('opentagstart', (tag) => {
    if (++count > limits.maxElements) stop(`more than ${limits.maxElements} elements`);
    if (stack.length >= limits.maxDepth) stop(`elements nested deeper than ${limits.maxDepth}`);
    if (tag.name.length > 256) stop('an element name longer than 256 characters');
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    if (problem) return;
    const names = Object.keys(tag.attributes);
    if (names.length > limits.maxAttributes) return stop(`more than ${limits.maxAttributes} attributes on <${tag.name.slice(0, 40)}>`);
    if (xhtml) {
      stack.push({ name: tag.local, ns: tag.uri, attrs: {}, children: [] });
      return;
    }
    const attrs: Record<string, string> = {};
    for (const n of names) {
      const a = tag.attributes[n];
      if (!a || a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      if (a.uri !== '') return stop(`attribute ${n.slice(0, 40)} in a namespace is not FHIR XML`);
      attrs[a.local] = a.value;
    }
    const node: XmlNode = { name: tag.local, ns: tag.uri, attrs, children: [] };
    if (tag.uri === XHTML_NS) {
      // The source text starts at this tag's "<": the last one before the parser's position.
      xhtml = { depth: stack.length, start: text.lastIndexOf('<', parser.position - 1) };
    }
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(node);
    else if (root) return stop('more than one root element');
    else root = node;
    stack.push(node);
  });
  parser.on('closetag', () => {
    if (problem) return;
    const node = stack.pop();
    if (xhtml && stack.length === xhtml.depth) {
      if (node) node.raw = text.slice(xhtml.start, parser.position);
      xhtml = undefined;
    }
  });
  parser.on('text', (s) => {
    if (!xhtml && stack.length > 0 && /[^ \t\r\n]/.test(s)) stop(`text "${s.trim().slice(0, 40)}" where FHIR XML has only elements and attributes`);
  });
  parser.on('cdata', () => {
    if (!xhtml) stop('CDATA where FHIR XML has only elements and attributes');
  });
  parser.on('error', (err) => stop(err.message.slice(0, 200)));

  // One chunk at a time, so a refusal stops the work early (a huge hostile body is not read on).
  const CHUNK = 1 << 16;
  for (let i = 0; i < text.length && !problem; i += CHUNK) {
    try {
      parser.write(text.slice(i, i + CHUNK));
    } catch (err) {
      stop(err instanceof Error ? err.message.slice(0, 200) : 'malformed XML');
    }
  }
  if (!problem) {
    try {
      parser.close();
    } catch (err) {
      stop(err instanceof Error ? err.message.slice(0, 200) : 'malformed XML');
    }
  }
  if (problem) refuse(problem);
  if (!root) refuse('no root element');
  return root;
}
