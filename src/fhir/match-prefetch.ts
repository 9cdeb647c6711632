// Conditional criteria of one transaction looked up together: `identifier=system|value` criteria
// of one type (an HL7 v2 result message carries one per Observation) are answered by one search
// for all their values, and each criterion's own matches are picked from that answer by the
// identifier parameter's values, as the token index holds them (R4 search.html#token: system
// and code equal). The answers go into the transaction's match memo (src/fhir/match-memo.ts),
// where matchOne finds them; criteria of any other shape, or an answer that may be cut short,
// leave the memo as it was, so each criterion is then looked up alone, as before.
import type { Resource } from 'fhir/r4.js';
import type { VersionRecord } from '../store/port.js';
import type { FhirContext } from './context.js';
import type { MatchMemo } from './match-memo.js';
import { matchCriteria } from './criteria.js';
import { isObject } from '../fhir-basics/json.js';

export interface Criterion {
  type: string;
  /** The query string, without `?`, exactly as matchOne will be asked. */
  criteria: string;
}

/** `system|value` of a criterion made of one plain identifier token, else undefined. */
function identifierToken(criteria: string): { system: string; value: string } | undefined {
  const pairs = [...new URLSearchParams(criteria).entries()];
  const [only] = pairs;
  if (pairs.length !== 1 || !only || only[0] !== 'identifier') return undefined;
  const v = only[1];
  // Escapes, several values or a missing half: left to the ordinary look-up.
  if (/[\\,]/.test(v)) return undefined;
  const bar = v.indexOf('|');
  if (bar <= 0 || bar === v.length - 1 || v.indexOf('|', bar + 1) >= 0) return undefined;
  return { system: v.slice(0, bar), value: v.slice(bar + 1) };
}

/** The (system, value) pairs the identifier parameter indexes for `resource`; undefined if any value is not an Identifier. */
function identifiers(ctx: FhirContext, resource: Resource): Set<string> | undefined {
  const param = ctx.search.params.get(resource.resourceType, 'identifier');
  if (!param || param.type !== 'token') return undefined;
  const out = new Set<string>();
  for (const path of param.paths) {
    for (const v of path.evaluate({ value: resource, type: resource.resourceType })) {
      if (v.type !== 'Identifier' || !isObject(v.value)) return undefined;
      const { system, value } = v.value;
      if (typeof system === 'string' && typeof value === 'string') out.add(`${system}|${value}`);
    }
  }
  return out;
}

/**
 * Looks up, one search per type, the criteria of `wanted` that are a single identifier token,
 * and remembers each one's match (or its absence) in `memo`. Types with fewer than two such
 * criteria are left alone (one search each either way).
 */
export async function prefetchIdentifierMatches(ctx: FhirContext, memo: MatchMemo, wanted: readonly Criterion[]): Promise<void> {
  const byType = new Map<string, Map<string, string>>();
  for (const { type, criteria } of wanted) {
    if (memo.get(ctx.access, type, criteria)) continue;
    const token = identifierToken(criteria);
    if (!token) continue;
    let group = byType.get(type);
    if (!group) byType.set(type, (group = new Map()));
    group.set(criteria, `${token.system}|${token.value}`);
  }
  for (const [type, group] of byType) {
    if (group.size < 2 || ctx.search.params.get(type, 'identifier')?.type !== 'token') continue;
    const tokens = [...new Set(group.values())];
    // Two matches per token tell "one" from "several"; an answer that fills the limit may be cut short.
    const limit = 2 * tokens.length + 1;
    let records: VersionRecord[];
    try {
      records = await matchCriteria(ctx, type, new URLSearchParams([['identifier', tokens.join(',')]]).toString(), limit);
    } catch {
      // Each criterion is then looked up alone, and the entry it belongs to reports the error.
      continue;
    }
    if (records.length >= limit) continue;
    const matches = new Map<string, VersionRecord[]>();
    let readable = true;
    for (const record of records) {
      const found = record.json ? identifiers(ctx, JSON.parse(record.json) as Resource) : undefined;
      if (!found) {
        readable = false;
        break;
      }
      for (const t of found) matches.set(t, [...(matches.get(t) ?? []), record]);
    }
    if (!readable) continue;
    for (const [criteria, token] of group) {
      const m = matches.get(token) ?? [];
      // Several matches: matchOne looks again and answers 412 with its own message.
      if (m.length <= 1) memo.set(ctx.access, type, criteria, m[0]);
    }
  }
}
