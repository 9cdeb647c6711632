// Binding checks for the validator, on the terminology service's core (src/terminology) over the
// definitions (R4 and PROFILES_DIR packages). A code of a required binding must be in the value
// set; a code of a system Flint does not hold is reported as not checked (a warning naming the
// system), never as valid or invalid. R4 terminologies.html#strength, valueset.html#compositions.
import type { ValueSet } from 'fhir/r4.js';
import type { Definitions } from '../definitions/registry.js';
import { indexOf } from '../terminology/codesystem.js';
import { Expander, TerminologyError, type Concept, type Membership, type TerminologySource } from '../terminology/expand.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { isObject } from '../fhir-basics/json.js';

type Json = Record<string, unknown>;

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * Code systems defined by a grammar rather than a list: a code of the right form is accepted
 * without a warning (R4 terminologies-systems.html: BCP-13 MIME types, BCP-47 language tags).
 */
const GRAMMARS: Record<string, { what: string; form: RegExp }> = {
  // R4 capabilitystatement.html: format is xml, json, ttl or a MIME type.
  'urn:ietf:bcp:13': { what: 'a MIME type', form: /^(xml|json|ttl)$|^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;.{0,500})?$/i },
  'urn:ietf:bcp:47': { what: 'a language tag', form: /^[a-z]{2,8}(-[a-z0-9]{1,8}){0,10}$/i },
};

/** Value sets whose membership answers are remembered per (system, code) asked. */
const MAX_REMEMBERED = 50_000;

/**
 * Value sets and code systems beyond the definitions for one validation (those stored through
 * the API, fetched beforehand by the engine since validation is synchronous), and a report of
 * the required bindings' value sets found nowhere.
 */
export interface TerminologyOverlay {
  source?: TerminologySource;
  onMissingValueSet?: (url: string) => void;
}

export class Terminology {
  private readonly defsSource: TerminologySource;
  private source: TerminologySource;
  private readonly answers = new Map<string, Membership | TerminologyError>();
  private overlay: TerminologyOverlay | undefined;

  constructor(private readonly defs: Definitions) {
    this.defsSource = { codeSystem: (u) => defs.codeSystem(u), valueSet: (u) => defs.valueSet(u) };
    this.source = this.defsSource;
  }

  /**
   * Runs `fn` (synchronously) with an overlay: its source answers after the definitions, and
   * its answers are not remembered (they depend on stored resources that may change).
   */
  withOverlay<T>(overlay: TerminologyOverlay | undefined, fn: () => T): T {
    if (!overlay) return fn();
    const extra = overlay.source;
    const defs = this.defsSource;
    this.overlay = overlay;
    if (extra) {
      this.source = {
        codeSystem: (u, v) => defs.codeSystem(u, v) ?? extra.codeSystem(u, v),
        valueSet: (u, v) => defs.valueSet(u, v) ?? extra.valueSet(u, v),
      };
    }
    try {
      return fn();
    } finally {
      this.overlay = undefined;
      this.source = defs;
    }
  }

  /** Codes of a CodeSystem whose content is complete; null when Flint cannot know them all. */
  codeSystemCodes(system: string): { has(code: string): boolean } | null {
    const cs = this.defs.codeSystem(system);
    if (!cs) return null;
    const idx = indexOf(cs);
    if (!idx.complete || idx.concepts.size === 0) return null;
    return { has: (code) => idx.get(code) !== undefined };
  }

  /** The concepts of a value set of the definitions; undefined when Flint cannot expand it. */
  expansion(valueSet: string): Concept[] | undefined {
    const vs = this.source.valueSet(valueSet.split('|')[0] ?? valueSet);
    if (!vs) return undefined;
    try {
      return new Expander(this.source).expand(vs);
    } catch (err) {
      if (err instanceof TerminologyError) return undefined;
      throw err;
    }
  }

  /** Whether (system,) code is in the value set; remembered (bounded: the answers come from the data). */
  membership(valueSet: string, system: string | undefined, code: string): Membership | TerminologyError {
    const k = `${valueSet}\u0000${system ?? ''}\u0000${code}`;
    const remember = this.source === this.defsSource;
    let m = remember ? this.answers.get(k) : undefined;
    if (!m) {
      const vs: ValueSet | undefined = this.source.valueSet(valueSet.split('|')[0] ?? valueSet);
      if (!vs) {
        m = new TerminologyError('not-found', `The value set ${valueSet} is not known to Flint`);
      } else {
        try {
          m = new Expander(this.source).contains(vs, system, code);
        } catch (err) {
          if (!(err instanceof TerminologyError)) throw err;
          m = err;
        }
      }
      if (remember) {
        if (this.answers.size >= MAX_REMEMBERED) this.answers.clear();
        this.answers.set(k, m);
      }
    }
    if (m instanceof TerminologyError && m.code === 'not-found') this.overlay?.onMissingValueSet?.(valueSet);
    return m;
  }

  /** The problems of one value bound to a value set (only required bindings are checked). */
  check(binding: { strength: string; valueSet: string }, value: unknown, type: string, loc: string): Issue[] {
    if (binding.strength !== 'required') return [];
    const vs = binding.valueSet.split('|')[0] ?? binding.valueSet;
    const codings: { system?: string; code: string; at: string }[] = [];
    if (type === 'code' || type === 'string' || type === 'uri') {
      if (typeof value === 'string') codings.push({ code: value, at: loc });
    } else if (type === 'Coding' || type === 'Quantity') {
      if (isObject(value) && typeof value.code === 'string') codings.push(codingOf(value, loc));
    } else if (type === 'CodeableConcept' && isObject(value)) {
      const list = Array.isArray(value.coding) ? value.coding : [];
      list.forEach((c, i) => {
        if (isObject(c) && typeof c.code === 'string') codings.push(codingOf(c, `${loc}.coding[${i}]`));
      });
      if (codings.length === 0) return [issue('error', 'code-invalid', `No code provided, and a code from the required value set ${vs} is needed`, loc)];
    } else {
      return [];
    }
    // A value of the wrong JSON type has its own error (structure.ts); there is no code to look up.
    if (codings.length === 0) return [];
    let unknown: { system?: string; reason?: string } | undefined;
    const bad: string[] = [];
    for (const c of codings) {
      const m = this.membership(vs, c.system, c.code);
      // A value set Flint cannot expand or does not hold: the binding is not checked (as before).
      if (m instanceof TerminologyError) return m.code === 'unknown-system' ? [notChecked(m.system, m.message, loc)] : [];
      if (m.result === 'yes') return [];
      if (m.result === 'unknown') unknown ??= m;
      else bad.push(c.system !== undefined ? `${short(c.system)}#${short(c.code)}` : `"${c.code}"`);
    }
    if (bad.length === 0 && unknown) {
      const grammar = unknown.system !== undefined ? GRAMMARS[unknown.system] : undefined;
      if (!grammar) return [notChecked(unknown.system, unknown.reason, loc)];
      const wrong = codings.find((c) => !grammar.form.test(c.code));
      return wrong ? [issue('error', 'code-invalid', `"${short(wrong.code)}" is not ${grammar.what} (${unknown.system ?? ''})`, wrong.at)] : [];
    }
    if (type === 'CodeableConcept') {
      return [issue('error', 'code-invalid', `None of the codes provided are in the required value set ${vs}`, loc)];
    }
    const c = codings[0];
    if (c?.system === undefined) return [issue('error', 'code-invalid', `The value "${c?.code ?? ''}" is not in the required value set ${vs}`, loc)];
    return [issue('error', 'code-invalid', `The code ${bad[0] ?? ''} is not in the required value set ${vs}`, loc)];
  }
}

function codingOf(c: Json, loc: string): { system?: string; code: string; at: string } {
  return { code: String(c.code), at: loc, ...(typeof c.system === 'string' ? { system: c.system } : {}) };
}

function notChecked(system: string | undefined, reason: string | undefined, loc: string): Issue {
  return issue('warning', 'not-supported', reason ?? `The code system ${system ?? ''} is not held by Flint, so the code was not checked`, loc);
}
