// Conformance of a resource to StructureDefinitions: its base definition (descending into every
// data type's own definition), each profile in meta.profile, and the definitions of the
// extensions it uses. Checks cardinality, choice types, fixed and pattern values, required
// bindings, invariants, reference formats, codes of known CodeSystems and slicing.
// JSON shape (unknown elements, arrays, primitive formats) is structure.ts's and schema.ts's job.
import type { Definitions } from '../definitions/registry.js';
import { capitalize } from '../definitions/model.js';
import { snapshotElements } from '../definitions/snapshot.js';
import { Terminology } from './bindings.js';
import { Invariants, NATIVE } from './invariants.js';
import { childrenOf, compileProfile, type CompiledProfile, type Rule } from './rules.js';
import { deepEqual, matchesPattern } from './match.js';
import { inSlice, type SliceProbe } from './slicing.js';
import { issue, type Issue } from '../fhir-basics/outcome.js';
import { isObject } from '../fhir-basics/json.js';
import { parseReference } from '../fhir-basics/references.js';
import { MAX_DEPTH } from './structure.js';
import { canonical, UCUM_SYSTEM } from '../search/ucum.js';

type Json = Record<string, unknown>;


/** One occurrence of an element in the instance. */
interface Entry {
  /** The value; undefined for a primitive that has only an `_element` (id/extensions). */
  value: unknown;
  /** The FHIR type of the value. */
  type: string;
  loc: string;
}

interface Scope {
  /** %resource: the resource the element is in. */
  resource: Json;
  /** %rootResource: the container of a contained resource, else the resource itself. */
  root: Json;
  /**
   * Inside a nested resource described by its container's definition (`Patient.contained.name`),
   * the path prefix to replace with the nested resource's type so fhirpath.js knows the types.
   */
  rebase?: [string, string];
}

type Mode = 'base' | 'profile';

interface ChildIndex {
  readonly byName: ReadonlyMap<string, [Rule, string]>;
  readonly choices: readonly Rule[];
  /** Rules to check even when the instance has none: min > 0, or slices with their own minimums. */
  readonly mustVisit: readonly Rule[];
}


function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export class Conformance {
  readonly terminology: Terminology;
  readonly invariants = new Invariants();
  private readonly compiled = new Map<string, CompiledProfile | null>();
  private readonly bases = new Map<string, CompiledProfile | null>();
  private readonly indexes = new WeakMap<readonly Rule[], ChildIndex>();

  constructor(readonly defs: Definitions) {
    this.terminology = new Terminology(defs);
  }

  /** A definition by canonical URL, compiled once (its snapshot generated if it has none); null when unknown. */
  profile(url: string): CompiledProfile | null {
    const key = url.split('|')[0] ?? url;
    let p = this.compiled.get(key);
    if (p === undefined) {
      const sd = this.defs.structureDefinition(key);
      // URLs come from the data (meta.profile, extension urls): only known ones are remembered,
      // so hostile input cannot grow the cache.
      if (!sd) return null;
      const elements = snapshotElements(sd, (u) => this.defs.structureDefinition(u));
      p = elements ? compileProfile(sd, elements) ?? null : null;
      this.compiled.set(key, p);
    }
    return p;
  }

  base(type: string): CompiledProfile | null {
    let p = this.bases.get(type);
    if (p === undefined) {
      p = this.profile(`http://hl7.org/fhir/StructureDefinition/${type}`);
      this.bases.set(type, p);
    }
    return p;
  }

  /** JSON property name → (rule, FHIR type) for one element's children; built once per rule list. */
  index(rules: readonly Rule[]): ChildIndex {
    let idx = this.indexes.get(rules);
    if (!idx) {
      const byName = new Map<string, [Rule, string]>();
      const choices: Rule[] = [];
      for (const r of rules) {
        if (r.choice) {
          choices.push(r);
          for (const t of r.types) byName.set(r.name + capitalize(t.code), [r, t.code]);
        } else {
          const type = r.types[0]?.code ?? 'BackboneElement';
          byName.set(r.name, [r, type === 'DomainResource' ? 'Resource' : type]);
        }
      }
      idx = { byName, choices, mustVisit: rules.filter((r) => r.min > 0 || r.slices.length > 0) };
      this.indexes.set(rules, idx);
    }
    return idx;
  }

  /** A data type's FHIR type from a choice suffix: `DateTime` → `dateTime`, `Quantity` → `Quantity`. */
  typeOfSuffix(suffix: string): string {
    const lower = suffix.charAt(0).toLowerCase() + suffix.slice(1);
    return this.defs.primitiveTypes.has(lower) ? lower : suffix;
  }

  /** Every problem of `resource` against its base definition, its meta.profile and `profiles`. */
  validate(resource: Json, profiles: readonly string[] = []): Issue[] {
    const run = new Run(this);
    run.resource(resource, String(resource.resourceType), resource, profiles, 0);
    return run.issues;
  }
}

class Run {
  readonly issues: Issue[] = [];

  constructor(private readonly c: Conformance) {}

  private add(i: Issue): void {
    this.issues.push(i);
  }

  resource(res: Json, loc: string, root: Json, extra: readonly string[], depth: number): void {
    const rt = res.resourceType;
    if (typeof rt !== 'string' || depth > MAX_DEPTH) return;
    const base = this.c.base(rt);
    if (!base) return;
    const scope: Scope = { resource: res, root };
    this.node(base, base.root, { value: res, type: rt, loc }, scope, 'base', depth);
    if (Array.isArray(res.contained)) this.containedReferenced(res, loc);
    if (rt === 'Bundle' && Array.isArray(res.entry)) this.fullUrls(res.entry, loc);
    if (rt === 'Bundle' && Array.isArray(res.link)) this.links(res.link, loc);
    const meta = isObject(res.meta) ? res.meta : undefined;
    const declared = Array.isArray(meta?.profile) ? meta.profile.filter((p): p is string => typeof p === 'string') : [];
    const urls = [...declared.map((u, i) => ({ u, at: `${loc}.meta.profile[${i}]` })), ...extra.map((u) => ({ u, at: loc }))];
    const done = new Set<string>();
    for (const { u, at } of urls) {
      const key = u.split('|')[0] ?? u;
      if (done.has(key) || key === `http://hl7.org/fhir/StructureDefinition/${rt}`) continue;
      done.add(key);
      const p = this.c.profile(key);
      if (!p) {
        this.add(issue('warning', 'not-supported', `Profile ${u} is not known to Flint, so the resource was not checked against it`, at));
      } else if (p.type !== rt) {
        this.add(issue('error', 'invalid', `Profile ${u} is for ${p.type}, not ${rt}`, at));
      } else {
        this.node(p, p.root, { value: res, type: rt, loc }, scope, 'profile', depth);
      }
    }
  }

  /**
   * dom-3 (R4 references.html#contained): a contained resource is referred to from elsewhere in
   * the resource (`#id`), or refers to its container (`#`). Checked natively: fhirpath.js
   * refuses the published expression ("Expected singleton on left side of 'as'").
   */
  private containedReferenced(res: Json, loc: string): void {
    const contained = res.contained as unknown[];
    const refs = new Set<string>();
    fragments(res, refs, 0);
    contained.forEach((c, i) => {
      if (!isObject(c) || typeof c.id !== 'string') return;
      if (refs.has(`#${c.id}`)) return;
      const own = new Set<string>();
      fragments(c, own, 0);
      if (own.has('#')) return;
      this.add(issue('error', 'invariant', "Constraint failed: dom-3: 'If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource'", `${loc}.contained[${i}]`));
    });
  }

  /** R4 datatypes.html#Attachment: size is the number of bytes of data (before base64). */
  private attachment(a: Json, loc: string): void {
    if (typeof a.data !== 'string' || typeof a.size !== 'number') return;
    const b64 = a.data.replace(/\s+/g, '');
    const bytes = Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
    if (bytes !== a.size) this.add(issue('error', 'value', `The stated size ${a.size} does not match the ${bytes} bytes of data`, `${loc}.size`));
  }

  /** R4 bundle.html#bundle-unique: an entry's fullUrl is an absolute URL (or a urn:uuid / urn:oid). */
  private fullUrls(entries: unknown[], loc: string): void {
    entries.forEach((e, i) => {
      if (!isObject(e) || typeof e.fullUrl !== 'string') return;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(e.fullUrl)) {
        this.add(issue('error', 'value', `The fullUrl must be an absolute URL, not "${short(e.fullUrl)}"`, `${loc}.entry[${i}].fullUrl`));
      }
    });
  }

  /**
   * A link relation names one link of the Bundle (R4 bundle.html#searchset and http.html#paging:
   * self, first, previous, next, last each name one page), so each relation occurs once.
   */
  private links(links: unknown[], loc: string): void {
    const seen = new Set<string>();
    links.forEach((l, i) => {
      if (!isObject(l) || typeof l.relation !== 'string') return;
      if (seen.has(l.relation)) this.add(issue('error', 'invalid', `The link relation '${short(l.relation)}' can only occur once`, `${loc}.link[${i}]`));
      seen.add(l.relation);
    });
  }

  /** Checks one occurrence of the element `rule` of `p`. */
  private node(p: CompiledProfile, rule: Rule, e: Entry, scope: Scope, mode: Mode, depth: number): void {
    if (depth > MAX_DEPTH) return;
    const { value, loc, type } = e;
    if (rule.fixed && value !== undefined && !deepEqual(value, rule.fixed.value)) {
      this.add(issue('error', 'value', `Value must be exactly ${short(rule.fixed.value)}, but is ${short(value)}`, loc));
    }
    if (rule.pattern && value !== undefined && !matchesPattern(value, rule.pattern.value)) {
      this.add(issue('error', 'value', `Value does not match the pattern ${short(rule.pattern.value)}`, loc));
    }
    if (rule.binding && value !== undefined) this.binding(rule, value, type, loc);
    if ((rule.minValue || rule.maxValue || rule.maxLength !== undefined) && value !== undefined) this.limits(rule, value, loc);
    if (rule.constraints.length && value !== undefined) this.constraints(rule, value, type, loc, scope);
    if (!isObject(value)) return;
    if (type === 'Reference' && rule !== p.root) this.reference(rule, value, loc, scope, mode === 'base');
    // A content reference (`#Questionnaire.item`) repeats the base structure; in a profile it
    // names the element as the base defines it, which the base walk checks already.
    const children = rule.children.length || mode === 'base' ? childrenOf(p, rule) : [];
    const nested = rule !== p.root && this.c.defs.isResourceType(type);
    if (children.length) {
      // Inside a nested resource, %resource is that resource (R4 fhirpath.html#variables).
      const inner: Scope = nested
        ? { resource: value, root: rule.path.endsWith('.contained') ? scope.root : value, rebase: [rule.path, type] }
        : scope;
      this.children(p, children, value, loc, inner, mode, depth + 1);
    } else if (nested) {
      // A resource inside a resource: contained ones resolve #references against their container.
      if (mode === 'base') this.resource(value, loc, rule.path.endsWith('.contained') ? scope.root : value, [], depth + 1);
    } else if (mode === 'base' && rule !== p.root && this.c.defs.complexTypes.has(type)) {
      // Entering a data type's own definition: its type-wide checks run here, once per value.
      if (type === 'Coding') this.coding(value, loc);
      else if (type === 'Extension') this.extension(value, loc, scope, depth);
      else if (type === 'Attachment') this.attachment(value, loc);
      const dt = this.c.base(type);
      if (dt) this.node(dt, dt.root, e, scope, 'base', depth + 1);
    }
    if (mode === 'profile') this.typeProfiles(rule, e, scope, depth);
  }

  /** A profile on the element's type (an extension's definition, a nested profile): one must fit. */
  private typeProfiles(rule: Rule, e: Entry, scope: Scope, depth: number): void {
    const t = rule.types.find((x) => x.code === e.type || (x.code === 'Resource' && this.c.defs.isResourceType(e.type)));
    if (!t?.profiles.length) return;
    const candidates: CompiledProfile[] = [];
    for (const url of t.profiles) {
      const p = this.c.profile(url);
      // Unknown type profiles are left to the base checks (an extension's own warning).
      if (!p || p.url === `http://hl7.org/fhir/StructureDefinition/${e.type}`) continue;
      // Extensions are checked against their definition by the base walk already.
      if (e.type === 'Extension' && isObject(e.value) && e.value.url === p.url) return;
      candidates.push(p);
    }
    const [only] = candidates;
    if (!only) return;
    if (candidates.length === 1) {
      this.node(only, only.root, e, scope, 'profile', depth + 1);
      return;
    }
    // R4 elementdefinition-definitions.html#ElementDefinition.type.profile: with several
    // profiles the element must conform to at least one of them. Each is tried on its own; the
    // closest one's findings are reported.
    let best: Issue[] | undefined;
    let bestErrors = Infinity;
    for (const p of candidates) {
      const probe = new Run(this.c);
      probe.node(p, p.root, e, scope, 'profile', depth + 1);
      const errors = probe.issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').length;
      if (errors < bestErrors) {
        best = probe.issues;
        bestErrors = errors;
      }
      if (errors === 0) break;
    }
    for (const i of best ?? []) this.add(i);
    if (bestErrors > 0) this.add(issue('error', 'structure', `The element does not conform to any of the profiles ${candidates.map((p) => p.url).join(', ')}`, e.loc));
  }

  /**
   * The children of one element: the instance's properties are looked up among the rules (not
   * every rule among the properties, which costs more on sparse data), then the rules that must
   * be visited even when absent (min > 0, slices) are.
   */
  private children(p: CompiledProfile, rules: readonly Rule[], parent: Json, loc: string, scope: Scope, mode: Mode, depth: number): void {
    const idx = this.c.index(rules);
    const hits: [Rule, Entry[]][] = [];
    for (const key in parent) {
      let name = key;
      if (key.charCodeAt(0) === 95) {
        name = key.slice(1);
        if (parent[name] !== undefined) continue; // handled with its value
      }
      const hit = idx.byName.get(name);
      if (!hit) {
        if (mode === 'profile') this.narrowedChoice(p, idx.choices, name, loc);
        continue;
      }
      const [rule, type] = hit;
      let entries = hits.find((h) => h[0] === rule)?.[1];
      if (!entries) {
        entries = [];
        hits.push([rule, entries]);
      }
      this.collect(parent, name, type, `${loc}.${name}`, entries);
    }
    for (const [rule, entries] of hits) this.occurrences(p, rule, entries, loc, scope, mode, depth);
    for (const rule of idx.mustVisit) {
      if (!hits.some((h) => h[0] === rule)) this.occurrences(p, rule, [], loc, scope, mode, depth);
    }
  }

  /** A choice type the base allows and a profile has taken out (value[x] narrowed to Quantity). */
  private narrowedChoice(p: CompiledProfile, choices: readonly Rule[], name: string, loc: string): void {
    for (const rule of choices) {
      if (name.length <= rule.name.length || !name.startsWith(rule.name)) continue;
      const c = name.charCodeAt(rule.name.length);
      if (c < 65 || c > 90) continue;
      const type = this.c.typeOfSuffix(name.slice(rule.name.length));
      this.add(issue('error', 'structure', `Type ${type} is not allowed for ${rule.path} by ${p.url} (allowed: ${rule.types.map((t) => t.code).join(', ')})`, `${loc}.${name}`));
      return;
    }
  }

  /** The occurrences of `rule` in its parent: cardinality, each value, slicing. */
  private occurrences(p: CompiledProfile, rule: Rule, entries: Entry[], loc: string, scope: Scope, mode: Mode, depth: number): void {
    const n = entries.length;
    if (n < rule.min) {
      const what = rule.sliceName ? `${rule.path}:${rule.sliceName}` : rule.path;
      this.add(issue('error', 'required', `${what}: minimum required = ${rule.min}, but only found ${n}${mode === 'profile' ? ` (from ${p.url})` : ''}`, loc));
    }
    if (n > rule.max) {
      this.add(issue('error', 'structure', `${rule.path}: max allowed = ${rule.max}, but found ${n}${mode === 'profile' ? ` (from ${p.url})` : ''}`, `${loc}.${rule.name}`));
    }
    for (const e of entries) {
      if (e.type === 'Resource' && isObject(e.value) && typeof e.value.resourceType === 'string') e.type = e.value.resourceType;
      this.node(p, rule, e, scope, mode, depth);
    }
    if (rule.slices.length) this.slicing(p, rule, entries, loc, scope, mode, depth);
  }

  private collect(parent: Json, key: string, type: string, at: string, into: Entry[]): void {
    const v = parent[key];
    const ext = parent[`_${key}`];
    if (Array.isArray(v) || Array.isArray(ext)) {
      const values = Array.isArray(v) ? v : [];
      const exts = Array.isArray(ext) ? ext : [];
      const len = Math.max(values.length, exts.length);
      for (let i = 0; i < len; i++) {
        const item: unknown = values[i];
        if ((item === null || item === undefined) && (exts[i] === null || exts[i] === undefined)) continue;
        into.push({ value: item ?? undefined, type, loc: `${at}[${i}]` });
      }
    } else if (v !== undefined && v !== null) {
      into.push({ value: v, type, loc: at });
    } else if (ext !== undefined && ext !== null) {
      into.push({ value: undefined, type, loc: at });
    }
  }

  // ---- slicing (R4 profiling.html#slicing) ----

  private slicing(p: CompiledProfile, owner: Rule, entries: Entry[], loc: string, scope: Scope, mode: Mode, depth: number): void {
    const counts = new Map<Rule, number>();
    const unmatched: Entry[] = [];
    for (const e of entries) {
      const probe: SliceProbe = {
        typeOfSuffix: (suffix) => this.c.typeOfSuffix(suffix),
        conforms: (url, value) => this.conformsTo(url, value, e.loc, scope),
        inValueSet: (b, value, type) => !this.c.terminology.check(b, value, type, e.loc).some((i) => i.severity === 'error'),
      };
      const slice = owner.slices.find((s) => inSlice(p, owner, s, e.value, e.type, probe));
      if (!slice) {
        unmatched.push(e);
        continue;
      }
      counts.set(slice, (counts.get(slice) ?? 0) + 1);
      this.node(p, slice, e, scope, mode, depth);
    }
    for (const s of owner.slices) {
      const n = counts.get(s) ?? 0;
      if (n < s.min) this.add(issue('error', 'required', `Slice ${owner.path}:${s.sliceName ?? ''}: minimum required = ${s.min}, but only found ${n} (from ${p.url})`, loc));
      if (n > s.max) this.add(issue('error', 'structure', `Slice ${owner.path}:${s.sliceName ?? ''}: max allowed = ${s.max}, but found ${n} (from ${p.url})`, loc));
    }
    if (owner.slicing?.rules === 'closed') {
      for (const e of unmatched) this.add(issue('error', 'structure', `This element does not match any known slice of ${owner.path} (slicing is closed, ${p.url})`, e.loc));
    }
  }

  /** The profile discriminator's test: `value` meets the profile at `url` without errors. */
  private conformsTo(url: string, value: unknown, loc: string, scope: Scope): boolean {
    const prof = this.c.profile(url);
    if (!prof || !isObject(value)) return false;
    const probe = new Run(this.c);
    if (this.c.defs.isResourceType(prof.type)) probe.resource(value, loc, scope.root, [url], 0);
    else probe.node(prof, prof.root, { value, type: prof.type, loc }, scope, 'profile', 0);
    return !probe.issues.some((i) => i.severity === 'error');
  }

  // ---- element checks ----

  private binding(rule: Rule, value: unknown, type: string, loc: string): void {
    if (rule.binding) for (const i of this.c.terminology.check(rule.binding, value, type, loc)) this.add(i);
  }

  /** minValue, maxValue (numbers, dates, Quantities in the same unit) and maxLength (R4 elementdefinition.html). */
  private limits(rule: Rule, value: unknown, loc: string): void {
    if (rule.maxLength !== undefined && typeof value === 'string' && value.length > rule.maxLength) {
      this.add(issue('error', 'value', `The value is ${value.length} characters long; at most ${rule.maxLength} are allowed`, loc));
    }
    const compare = (limit: unknown): number | undefined => {
      if (typeof value === 'number' && typeof limit === 'number') return value - limit;
      // ISO dates of the same precision compare as text.
      if (typeof value === 'string' && typeof limit === 'string' && value.length === limit.length) return value < limit ? -1 : value > limit ? 1 : 0;
      if (isObject(value) && isObject(limit) && typeof value.value === 'number' && typeof limit.value === 'number') {
        if (value.code === limit.code && value.system === limit.system) return value.value - limit.value;
        // Quantities in different UCUM units compare once both are in canonical units.
        if (value.system === UCUM_SYSTEM && limit.system === UCUM_SYSTEM && typeof value.code === 'string' && typeof limit.code === 'string') {
          const a = canonical(value.value, value.code);
          const b = canonical(limit.value, limit.code);
          if (a && b && a.code === b.code) return a.value - b.value;
        }
      }
      return undefined;
    };
    const show = (v: unknown): string => (isObject(v) ? `${String(v.value)} ${String(v.code ?? v.unit ?? '')}`.trim() : String(v));
    if (typeof value === 'string' && (rule.minValue?.type === 'Duration' || rule.maxValue?.type === 'Duration')) {
      this.durationLimits(rule, value, loc);
      return;
    }
    const lo = rule.minValue ? compare(rule.minValue.value) : undefined;
    if (lo !== undefined && lo < 0) this.add(issue('error', 'value', `The value ${show(value)} is less than the minimum ${show(rule.minValue?.value)}`, loc));
    const hi = rule.maxValue ? compare(rule.maxValue.value) : undefined;
    if (hi !== undefined && hi > 0) this.add(issue('error', 'value', `The value ${show(value)} is greater than the maximum ${show(rule.maxValue?.value)}`, loc));
  }

  /**
   * A date limited by a Duration (minValueDuration/maxValueDuration, which the reference
   * validator reads as R5 elementdefinition.html does): the limit is relative to now, the
   * earliest allowed date being now minus the minimum, the latest now plus the maximum.
   */
  private durationLimits(rule: Rule, value: string, loc: string): void {
    const at = dateMillis(value);
    if (at === undefined) return;
    const now = Date.now();
    const span = (limit: unknown): number | undefined => {
      if (!isObject(limit) || typeof limit.value !== 'number' || typeof limit.code !== 'string') return undefined;
      const ms = canonical(limit.value, limit.code);
      return ms?.code === 's' ? ms.value * 1000 : undefined;
    };
    const min = rule.minValue?.type === 'Duration' ? span(rule.minValue.value) : undefined;
    if (min !== undefined && at < now - min) this.add(issue('error', 'value', `The date ${value} is earlier than ${new Date(now - min).toISOString().slice(0, 10)} (the minimum is a duration before now)`, loc));
    const max = rule.maxValue?.type === 'Duration' ? span(rule.maxValue.value) : undefined;
    if (max !== undefined && at > now + max) this.add(issue('error', 'value', `The date ${value} is later than ${new Date(now + max).toISOString().slice(0, 10)} (the maximum is a duration after now)`, loc));
  }

  private constraints(rule: Rule, value: unknown, type: string, loc: string, scope: Scope): void {
    // Invariants of contained-resource rules (dom-2..5) only speak about contained resources.
    const hasContained = rule.path.indexOf('.') < 0 && isObject(value) && value.contained !== undefined;
    let path = rule.path;
    if (scope.rebase && path.startsWith(`${scope.rebase[0]}.`)) path = scope.rebase[1] + path.slice(scope.rebase[0].length);
    const base = rule.choice ? `${path.slice(0, -3)}${capitalize(type)}` : path;
    let last: [string, boolean | undefined] | undefined;
    for (const inv of rule.constraints) {
      if (NATIVE.has(inv.key)) continue;
      if (!hasContained && /^dom-[2-5]$/.test(inv.key)) continue;
      // txt-1 and txt-2 are both `htmlChecks()`: one evaluation answers both.
      const ok = last?.[0] === inv.expression ? last[1] : this.c.invariants.holds(base, inv.expression, value, scope.resource, scope.root);
      last = [inv.expression, ok];
      if (ok === false) this.add(issue(inv.severity, 'invariant', `Constraint failed: ${inv.key}: '${inv.human}'`, loc));
    }
  }

  /** Reference.reference: a relative, absolute, urn or #contained reference to an allowed type (R4 references.html). */
  private reference(rule: Rule, ref: Json, loc: string, scope: Scope, format: boolean): void {
    const r = ref.reference;
    if (typeof r !== 'string') return;
    const at = `${loc}.reference`;
    if (r.startsWith('#')) {
      if (!format) return;
      const id = r.slice(1);
      const contained = Array.isArray(scope.root.contained) ? scope.root.contained : [];
      const ok = id === '' ? scope.root !== scope.resource : contained.some((c) => isObject(c) && c.id === id);
      if (!ok) this.add(issue('error', 'structure', `The contained reference ${r} does not resolve to a contained resource (ref-1)`, at));
      return;
    }
    if (r.startsWith('urn:uuid:') || r.startsWith('urn:oid:')) return;
    const type = parseReference(r)?.type;
    if (!type) {
      if (format && !/^[a-z][a-z0-9+.-]*:/i.test(r)) this.add(issue('error', 'value', `"${short(r)}" is not a valid reference: expected Type/id, an absolute URL, a urn or #id`, at));
      return;
    }
    if (!this.c.defs.isResourceType(type)) {
      if (format && !r.includes('://')) this.add(issue('error', 'value', `The reference ${short(r)} names an unknown resource type "${type}"`, at));
      return;
    }
    if (format && typeof ref.type === 'string' && ref.type !== type) {
      this.add(issue('error', 'value', `The reference is to a ${type}, but its type says ${ref.type}`, `${loc}.type`));
    }
    const targets = rule.types.find((t) => t.code === 'Reference')?.targetProfiles ?? [];
    if (targets.length === 0) return;
    const allowed = new Set<string>();
    for (const t of targets) {
      const sdType = this.c.defs.structureDefinition(t)?.type ?? t.slice(t.lastIndexOf('/') + 1);
      allowed.add(sdType);
    }
    if (allowed.has('Resource') || allowed.has('DomainResource') || allowed.has(type)) return;
    this.add(issue('error', 'structure', `A reference to a ${type} is not allowed here; allowed: ${[...allowed].join(', ')}`, at));
  }

  /** A Coding of a CodeSystem Flint holds in full must use one of its codes. */
  private coding(c: Json, loc: string): void {
    if (typeof c.system !== 'string' || typeof c.code !== 'string') return;
    // R4 codesystem.html#supplements: a supplement adds to another system; codes are never "of" it.
    const cs = this.c.defs.codeSystem(c.system);
    if (cs && (cs.content === 'supplement' || cs.supplements !== undefined)) {
      this.add(issue('error', 'business-rule', `CodeSystem ${c.system} is a supplement, so it cannot be used as a value in Coding.system`, `${loc}.system`));
      return;
    }
    const codes = this.c.terminology.codeSystemCodes(c.system);
    if (!codes || codes.has(c.code)) return;
    // terminology.hl7.org code systems grow independently of R4; Flint holds their 2019 state
    // (R4 4.0.1), so a code it does not know there may be newer, not wrong: a warning.
    const frozen = !c.system.startsWith('http://terminology.hl7.org/');
    this.add(issue(frozen ? 'error' : 'warning', 'code-invalid', `Unknown code "${c.code}" in the CodeSystem ${c.system}${frozen ? '' : ' (as of R4 4.0.1)'}`, `${loc}.code`));
  }

  /** An extension is checked against its definition, when Flint knows it (R4 extensibility.html). */
  private extension(ext: Json, loc: string, scope: Scope, depth: number): void {
    const url = ext.url;
    if (typeof url !== 'string') return;
    // ext-1: an extension has either a value or nested extensions, not both, not neither. A
    // primitive value may be present with only an id or extensions (`_valueString`, R4
    // json.html#primitive): value.exists() is true then.
    const hasValue = Object.keys(ext).some((k) => k.startsWith('value') || k.startsWith('_value'));
    const hasExt = Array.isArray(ext.extension) && ext.extension.length > 0;
    if (hasValue === hasExt) this.add(issue('error', 'invariant', "Constraint failed: ext-1: 'Must have either extensions or value[x], not both'", loc));
    if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) return; // a sub-extension's local name: its parent's definition checks it
    const p = this.c.profile(url);
    if (!p) {
      // R4 extensibility.html: an extension Flint does not hold is not checked, and not refused
      // (a store is not a processor that must understand modifiers). The HL7 validator refuses
      // unknown extensions unless told to allow any; refusing would close Flint to every IG it
      // does not hold, so this is a warning.
      this.add(issue('warning', 'extension', `The extension ${url} is not known to Flint, so it was not checked`, loc));
      return;
    }
    if (p.type !== 'Extension') {
      this.add(issue('error', 'structure', `${url} is a ${p.type} definition, not an extension`, loc));
      return;
    }
    this.node(p, p.root, { value: ext, type: 'Extension', loc }, scope, 'profile', depth + 1);
  }
}

/** Every string starting with `#` anywhere in `v` (references, canonicals, uris to contained resources). */
function fragments(v: unknown, into: Set<string>, depth: number): void {
  if (depth > MAX_DEPTH) return;
  if (typeof v === 'string') {
    if (v.charCodeAt(0) === 35) into.add(v);
  } else if (Array.isArray(v)) {
    for (const x of v) fragments(x, into, depth + 1);
  } else if (typeof v === 'object' && v !== null) {
    for (const k in v) if (k !== 'div') fragments((v as Json)[k], into, depth + 1);
  }
}


/** The instant a FHIR date, dateTime or instant starts at (a partial date at its first day, UTC); undefined when not one. */
function dateMillis(v: string): number | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(T.*)?$/.exec(v);
  if (!m) return undefined;
  const t = m[4] ? Date.parse(v) : Date.UTC(Number(m[1]), Number(m[2] ?? '1') - 1, Number(m[3] ?? '1'));
  return Number.isNaN(t) ? undefined : t;
}
