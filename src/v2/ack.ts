// HL7 v2 original-mode acknowledgements (v2.5.1 2.9.2): MSH, MSA (code, control id, text)
// and, for AE/AR, ERR (v2.5+: ERR-2 location, ERR-3 code from table 0357, ERR-4 severity;
// before 2.5: ERR-1 as ELD).
import { escapeText, type Delimiters, type V2Message } from './er7.js';
import type { AckCode, V2Error } from './errors.js';

const DEFAULT: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };
let counter = 0;

function timestamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

const ERROR_TEXT: Record<number, string> = {
  100: 'Segment sequence error', 101: 'Required field missing', 102: 'Data type error', 103: 'Table value not found',
  200: 'Unsupported message type', 201: 'Unsupported event code', 202: 'Unsupported processing id', 203: 'Unsupported version id',
  204: 'Unknown key identifier', 205: 'Duplicate key identifier', 206: 'Application record locked', 207: 'Application internal error',
};

/**
 * The ACK for a message (or for bytes that were not one: `message` undefined gives a header
 * built from defaults, MSA-2 empty).
 */
export function buildAck(message: V2Message | undefined, code: AckCode, error?: V2Error, now = new Date()): string {
  const d = message?.delimiters ?? DEFAULT;
  const h = message?.header;
  const e = (s: string): string => escapeText(s, d);
  const version = h?.get(12) || '2.5.1';
  const trigger = h?.get(9, 2) ?? '';
  counter = (counter + 1) % 1_000_000;
  const enc = `${d.component}${d.repetition}${d.escape}${d.subcomponent}`;
  const msh = [
    // The sender's application and facility, echoed as sent (HD with its components).
    'MSH', enc, h?.raw(5) || 'FLINT', h?.raw(6) ?? '', h?.raw(3) ?? '', h?.raw(4) ?? '', timestamp(now), '',
    `ACK${d.component}${e(trigger)}${d.component}ACK`, `FL${now.getTime()}${String(counter).padStart(6, '0')}`, e(h?.get(11) || 'P'), e(version),
  ].join(d.field);
  const text = error ? error.message.slice(0, 200) : '';
  const msa = ['MSA', code, e(h?.get(10) ?? ''), e(text)].join(d.field);
  const segments = [msh, msa];
  if (error) {
    const loc = error.location;
    const where = loc ? [loc.segment, loc.sequence ?? '', loc.field ?? ''].map((x) => e(String(x))).join(d.component) : '';
    const errCode = [String(error.code), e(ERROR_TEXT[error.code] ?? ''), 'HL70357'].join(d.component);
    if (/^2\.(3|4)/.test(version)) {
      // ERR-1 (ELD): segment ^ sequence ^ field ^ code&text&table
      segments.push(['ERR', [where || `${d.component}${d.component}`, errCode.split(d.component).join(d.subcomponent)].join(d.component)].join(d.field));
    } else {
      segments.push(['ERR', '', where, errCode, 'E', '', '', '', e(text)].join(d.field));
    }
  }
  return `${segments.join('\r')}\r`;
}
