// HL7 v2 ER7 ("pipe and hat") parsing: separators from MSH-1/MSH-2, segments, fields,
// repetitions, components, subcomponents and escape sequences (HL7 v2.5.1 ch. 2.5–2.7).
// Strict on the header (a message that does not start with a well-formed MSH is refused),
// lenient inside segments, as receivers are expected to be (v2.5.1 2.6.1 "ignore unexpected").

export class V2ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'V2ParseError';
  }
}

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

/** One field: its repetitions, each a list of components, each a list of subcomponents (decoded). */
export type Field = string[][][];

export class Segment {
  constructor(readonly name: string, private readonly fields: Field[], private readonly rawFields: readonly string[] = []) {}

  /** Field n as it was sent (still escaped), to echo it back (MSH-3…6 in an ACK). */
  raw(n: number): string {
    return this.rawFields[n] ?? '';
  }

  /** Field n (1-based, as in the standard: PID-3 is field(3)); MSH-1 is the field separator itself. */
  field(n: number): Field {
    return this.fields[n] ?? [];
  }

  /** Component c (1-based) of repetition r (0-based) of field n; '' when absent. */
  get(n: number, c = 1, r = 0, s = 1): string {
    return this.fields[n]?.[r]?.[c - 1]?.[s - 1] ?? '';
  }

  /** The repetitions of field n, each as its components' first subcomponents. */
  reps(n: number): string[][] {
    return (this.fields[n] ?? []).map((rep) => rep.map((comp) => comp[0] ?? ''));
  }
}

export interface V2Message {
  delimiters: Delimiters;
  segments: Segment[];
  /** The raw MSH segment text, kept to build the acknowledgement's header. */
  header: Segment;
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;

/** Decodes the escape sequences of v2.5.1 2.7.1–2.7.4; unknown ones are dropped, not guessed. */
function unescape(text: string, d: Delimiters): string {
  if (!text.includes(d.escape)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (ch !== d.escape) {
      out += ch;
      i++;
      continue;
    }
    const end = text.indexOf(d.escape, i + 1);
    if (end < 0) {
      out += text.slice(i);
      break;
    }
    const seq = text.slice(i + 1, end);
    i = end + 1;
    switch (seq) {
      case 'F': out += d.field; break;
      case 'S': out += d.component; break;
      case 'T': out += d.subcomponent; break;
      case 'R': out += d.repetition; break;
      case 'E': out += d.escape; break;
      case '.br': out += '\n'; break;
      default:
        // \Xhh…\ : hexadecimal data (ASCII here); formatting (\H\, \N\, \.sp\ …) carries no text.
        if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) {
          out += Buffer.from(seq.slice(1), 'hex').toString('latin1');
        }
    }
  }
  return out;
}

function splitField(raw: string, d: Delimiters): Field {
  if (raw === '') return [];
  return raw.split(d.repetition).map((rep) => rep.split(d.component).map((comp) => comp.split(d.subcomponent).map((s) => unescape(s, d))));
}

/** The delimiters a header segment (MSH, or a batch's FHS/BHS) declares in its fields 1 and 2. */
export function delimitersOf(msh: string): Delimiters {
  // MSH-1 is the character right after "MSH"; MSH-2 the next (up to) four characters.
  const field = msh[3] ?? '';
  if (!field || /[A-Za-z0-9\r\n ]/.test(field)) throw new V2ParseError('MSH-1 (field separator) is missing or invalid');
  const enc = msh.slice(4, msh.indexOf(field, 4) < 0 ? undefined : msh.indexOf(field, 4));
  if (enc.length < 3 || enc.length > 5) throw new V2ParseError('MSH-2 (encoding characters) must have 4 characters, e.g. ^~\\&');
  const [component = '', repetition = '', escape = '', subcomponent = '&'] = enc.split('');
  const all = [field, component, repetition, escape, subcomponent];
  if (new Set(all).size !== all.length || all.some((c) => /[A-Za-z0-9\r\n ]/.test(c))) {
    throw new V2ParseError('MSH-2 (encoding characters) must be distinct punctuation, e.g. ^~\\&');
  }
  return { field, component, repetition, escape, subcomponent };
}

/** Parses one message. Segments end with CR (LF and CRLF accepted, as many senders use them). */
export function parseMessage(text: string): V2Message {
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
  const first = lines[0];
  if (first === undefined) throw new V2ParseError('The message is empty');
  if (!first.startsWith('MSH')) throw new V2ParseError('The message must start with an MSH segment');
  const d = delimitersOf(first);
  const segments: Segment[] = [];
  for (const [i, line] of lines.entries()) {
    const segment = parseSegment(line, d, i + 1);
    if (segment.name === 'MSH' && i !== 0) throw new V2ParseError('MSH appears more than once (a batch needs its BHS/BTS envelope)');
    if (BATCH_SEGMENTS.has(segment.name)) throw new V2ParseError(`${segment.name} belongs to a batch envelope, not inside a message`);
    segments.push(segment);
  }
  const header = segments[0] as Segment;
  return { delimiters: d, segments, header };
}

/** The segments of the batch protocol's envelope (v2.5.1 2.10.3). */
const BATCH_SEGMENTS = new Set(['FHS', 'BHS', 'BTS', 'FTS']);
/** Segments whose fields 1 and 2 are the delimiters themselves. */
const HEADERS = new Set(['MSH', 'FHS', 'BHS']);

/** One segment's text (without its terminator); `at` numbers it for errors. */
export function parseSegment(line: string, d: Delimiters, at: number): Segment {
  const parts = line.split(d.field);
  const name = parts[0] ?? '';
  if (!SEGMENT_NAME.test(name)) throw new V2ParseError(`Segment ${at} has no valid segment name`);
  if (HEADERS.has(name)) {
    // Field 1 is the separator itself and field 2 is not split (it holds the delimiters).
    const fields: Field[] = [[], [[[d.field]]], [[[parts[1] ?? '']]], ...parts.slice(2).map((f) => splitField(f, d))];
    return new Segment(name, fields, ['', d.field, ...parts.slice(1)]);
  }
  return new Segment(name, [[], ...parts.slice(1).map((f) => splitField(f, d))], parts);
}

/** Escapes text for an ER7 field (v2.5.1 2.7.1): the delimiters themselves, and line breaks. */
export function escapeText(text: string, d: Delimiters): string {
  let out = '';
  for (const ch of text) {
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${d.escape}.br${d.escape}`;
    else out += ch;
  }
  return out;
}
