// The Prefer header (R4 http.html#ops, search.html#errors, async.html): return, handling, respond-async.

export interface Prefer {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
  respondAsync?: boolean;
}

export function parsePrefer(header: string | string[] | undefined): Prefer {
  const out: Prefer = {};
  const all = Array.isArray(header) ? header.join(',') : header ?? '';
  for (const part of all.split(/[,;]/)) {
    const [k, v] = part.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) out.return = v;
    else if (k === 'handling' && (v === 'strict' || v === 'lenient')) out.handling = v;
    else if (k === 'respond-async') out.respondAsync = true;
  }
  return out;
}
