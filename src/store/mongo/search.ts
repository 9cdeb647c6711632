// Runs searches on MongoDB: the compiled filter, sort keys computed per document, keyset
// paging on (sort keys…, creation order), totals, and _include / _revinclude.
import { MAX_INCLUDES, type IncludeSpec, type SearchQuery, type SortKey } from '../../search/ir.js';
import { StoreError, type SearchPage, type VersionRecord } from '../port.js';
import { IncludeRounds } from '../includes.js';
import { pageLinks } from '../paging.js';
import { and, Compiler, FALSE, type InnerSearch } from './compile.js';
import type { Doc, Filter, FindOptions, MongoDb, Session } from './db.js';
import { RESOURCES, toRecord, type ResourceDoc } from './layout.js';
import { Budget } from '../budget.js';

/** `_total=estimate` counts at most this many matches; beyond, no total is given (as SQLite). */
const ESTIMATE_CAP = 1_000;
const CHUNK = 500;

/** What a search reads of a document: everything but the index, except references (for includes). */
const PROJECTION = { _id: 1, t: 1, i: 1, v: 1, d: 1, lu: 1, s: 1, c: 1, m: 1, j: 1, 'x.rf': 1 } as const;

type Row = Pick<ResourceDoc, '_id' | 't' | 'i' | 'v' | 'd' | 'lu' | 's' | 'c' | 'm' | 'j'> & { x?: { rf?: ResourceDoc['x']['rf'] } } & Record<string, unknown>;

/** One ordering key: a document field (or one computed for the sort), and its direction. */
interface Key {
  field: string;
  desc: boolean;
  /** `$addFields` expression when the key is computed. */
  compute?: unknown;
}

type KeyValue = string | number | null;
interface CursorData {
  k: (KeyValue | { inf: 1 | -1 })[];
  c: number;
  /** The boundary's `_id`: creation order values may tie across instances (README.md, "Change order"). */
  r: string;
  d: 'n' | 'p';
}

function encodeCursor(k: KeyValue[], c: number, r: string, d: 'n' | 'p'): string {
  // JSON has no Infinity (open quantity ranges sort at ±Infinity): tagged instead.
  const data: CursorData = { k: k.map((v) => (v === Infinity ? { inf: 1 } : v === -Infinity ? { inf: -1 } : v)), c, r, d };
  return Buffer.from(JSON.stringify(data)).toString('base64url');
}

function decodeCursor(raw: string, keys: number): { k: KeyValue[]; c: number; r: string; d: 'n' | 'p' } {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as CursorData;
    if (!Array.isArray(c.k) || c.k.length !== keys || typeof c.c !== 'number' || typeof c.r !== 'string' || (c.d !== 'n' && c.d !== 'p')) throw new Error('shape');
    const k = c.k.map((v) => {
      if (v === null || typeof v === 'string' || typeof v === 'number') return v;
      if (typeof v === 'object' && (v.inf === 1 || v.inf === -1)) return v.inf * Infinity;
      throw new Error('value');
    });
    return { k, c: c.c, r: c.r, d: c.d };
  } catch {
    throw new StoreError('invalid-cursor', 'the paging cursor is not valid for this search');
  }
}

/** Rows strictly after (or before, going backwards) the boundary in the sort order. */
function keyset(keys: Key[], values: KeyValue[], backwards: boolean): Filter {
  const ors: Filter[] = [];
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const v = values[i] ?? null;
    if (!k || v === null) continue; // null only in a group of absent values, which all tie
    const eq: Filter = {};
    for (let j = 0; j < i; j++) {
      const kj = keys[j];
      if (kj) eq[kj.field] = values[j] ?? null;
    }
    const forward = k.desc === backwards; // moving towards larger values
    ors.push({ ...eq, [k.field]: forward ? { $gt: v } : { $lt: v } });
  }
  return ors.length ? { $or: ors } : FALSE;
}

export class MongoSearch implements InnerSearch {
  constructor(
    private readonly db: MongoDb,
    private readonly registered: ReadonlySet<string>,
    private readonly session?: Session,
    /** The search's time budget (one MongoSearch runs one search). */
    private readonly budget = new Budget(undefined),
  ) {}

  /** Find options with what is left of the budget as the server's maxTimeMS. */
  private timed(opts: FindOptions): FindOptions {
    this.budget.check();
    const ms = this.budget.remaining();
    return ms === undefined ? opts : { ...opts, maxTimeMS: ms };
  }

  async ids(type: string, filter: Filter, limit: number): Promise<string[]> {
    const docs = await this.db.find(RESOURCES, and([{ t: type, d: false }, filter]), this.timed({ projection: { i: 1 }, limit }), this.session);
    return docs.map((d) => String(d.i));
  }

  async references(type: string, filter: Filter, param: string, limit: number): Promise<{ t: string | null; i: string | null }[]> {
    const docs = await this.db.find(RESOURCES, and([{ t: type, d: false, 'x.rf.p': param }, filter]), this.timed({ projection: { 'x.rf': 1 }, limit }), this.session);
    const out: { t: string | null; i: string | null }[] = [];
    for (const d of docs as Row[]) for (const r of d.x?.rf ?? []) if (r.p === param) out.push({ t: r.t, i: r.i });
    return out;
  }

  private known(types: readonly string[], code: string): boolean {
    return types.some((t) => this.registered.has(`${t}\u0000${code}`));
  }

  /** Sort keys (R4 search.html#sort): ascending by a parameter's lowest value, descending by its highest, absent values last. */
  private sortKeys(sort: SortKey[], types: readonly string[]): Key[] {
    const keys: Key[] = [];
    sort.forEach((s, n) => {
      if (s.param === '_id') keys.push({ field: 'i', desc: s.descending });
      else if (s.param === '_lastUpdated') keys.push({ field: 'lu', desc: s.descending });
      else if (this.known(types, s.param)) {
        const path = `$x.so.${s.param}.${s.descending ? 'hi' : 'lo'}`;
        // The absent flag sorts first so that absent values come last in either direction.
        keys.push({ field: `_k${n}a`, desc: false, compute: { $cond: [{ $eq: [{ $ifNull: [path, null] }, null] }, 1, 0] } });
        keys.push({ field: `_k${n}v`, desc: s.descending, compute: { $ifNull: [path, null] } });
      }
    });
    return keys;
  }

  async run(q: SearchQuery): Promise<SearchPage> {
    const types = q.types;
    if (types.length === 0) return { records: [], included: [] };
    const compiler = new Compiler(this.registered, this, q.access);
    const base = and([
      { t: types.length === 1 ? types[0] : { $in: types }, d: false },
      await compiler.expr(q.where, types),
      q.compartment ? compiler.compartment(q.compartment, types) : {},
      await compiler.visible(types),
    ]);

    let total: number | undefined;
    if (q.total === 'accurate' || q.count === 0) total = await this.db.count(RESOURCES, base, undefined, this.session, this.timed({}).maxTimeMS);
    if (q.count === 0) return { records: [], included: [], ...(total !== undefined ? { total } : {}) };

    // Creation order, then `_id`: the tie-break of creations by two instances in one clock tick.
    const keys = [...this.sortKeys(q.sort, types), { field: 'c', desc: false }, { field: '_id', desc: false }];
    const cursor = q.cursor !== undefined ? decodeCursor(q.cursor, keys.length - 2) : undefined;
    const backwards = cursor?.d === 'p';
    const computed = Object.fromEntries(keys.filter((k) => k.compute !== undefined).map((k) => [k.field, k.compute]));
    const sort = Object.fromEntries(keys.map((k) => [k.field, k.desc !== backwards ? -1 : 1]));
    const projection = { ...PROJECTION, ...Object.fromEntries(Object.keys(computed).map((f) => [f, 1])) };
    const pipeline: Doc[] = [{ $match: base }];
    if (Object.keys(computed).length) pipeline.push({ $addFields: computed });
    if (cursor) pipeline.push({ $match: keyset(keys, [...cursor.k, cursor.c, cursor.r], backwards) });
    pipeline.push({ $sort: sort }, { $limit: q.count + 1 }, { $project: projection });
    let rows = (await this.db.aggregate(RESOURCES, pipeline, this.session, this.timed({}).maxTimeMS)) as Row[];
    this.budget.check();
    const more = rows.length > q.count;
    if (more) rows = rows.slice(0, q.count);
    if (backwards) rows.reverse();

    const boundary = (row: Row, d: 'n' | 'p'): string =>
      encodeCursor(keys.slice(0, -2).map((k) => (row[k.field] ?? null) as KeyValue), row.c, row._id, d);
    const links = pageLinks(rows, more, cursor !== undefined, backwards, boundary);

    if (total === undefined && q.total !== 'none' && !cursor && !more) {
      // A first page that holds every match gives the exact total for free.
      total = rows.length;
    } else if (total === undefined && q.total === 'estimate' && !cursor) {
      const n = await this.db.count(RESOURCES, base, ESTIMATE_CAP, this.session, this.timed({}).maxTimeMS);
      if (n < ESTIMATE_CAP) total = n;
    }
    const { included, truncated } = await this.includes(q, rows, compiler);
    return {
      records: rows.map(toRecord), included,
      ...links,
      ...(total !== undefined ? { total } : {}),
      ...(truncated ? { includesTruncated: true } : {}),
    };
  }

  private async includes(q: SearchQuery, matches: Row[], compiler: Compiler): Promise<{ included: VersionRecord[]; truncated: boolean }> {
    const rounds = new IncludeRounds(q, matches, (r) => r._id);
    for (let specs = rounds.next(); specs; specs = rounds.next()) {
      const found: Row[] = [];
      for (const spec of specs.include) for (const row of await this.forward(spec, rounds.frontier, compiler)) found.push(row);
      for (const spec of specs.revinclude) for (const row of await this.reverse(spec, rounds.frontier, compiler)) found.push(row);
      rounds.take(found);
    }
    return { included: rounds.included.map(toRecord), truncated: rounds.truncated };
  }

  private fetch(filter: Filter): Promise<Row[]> {
    return this.db.find(RESOURCES, and([{ d: false }, filter]), this.timed({ projection: PROJECTION, limit: MAX_INCLUDES + 1 }), this.session) as Promise<Row[]>;
  }

  /** _include: the resources that `frontier` rows of spec.sourceType reference. */
  private async forward(spec: IncludeSpec, frontier: Row[], compiler: Compiler): Promise<Row[]> {
    if (!this.registered.has(`${spec.sourceType}\u0000${spec.param}`)) return [];
    const byType = new Map<string, Set<string>>();
    for (const row of frontier) {
      if (row.t !== spec.sourceType) continue;
      for (const r of row.x?.rf ?? []) {
        if (r.p !== spec.param || r.t === null || r.i === null) continue;
        if (spec.targetType && r.t !== spec.targetType) continue;
        const set = byType.get(r.t) ?? new Set<string>();
        set.add(r.i);
        byType.set(r.t, set);
      }
    }
    const out: Row[] = [];
    // The compartment selects the matches only; what they reference is included wherever it lives.
    for (const [type, idSet] of byType) {
      const vis = await compiler.visible([type]);
      const ids = [...idSet];
      for (let i = 0; i < ids.length; i += CHUNK) {
        for (const row of await this.fetch(and([{ _id: { $in: ids.slice(i, i + CHUNK).map((id) => `${type}/${id}`) } }, vis]))) out.push(row);
      }
    }
    return out;
  }

  /** _revinclude: spec.sourceType resources that reference any `frontier` row. */
  private async reverse(spec: IncludeSpec, frontier: Row[], compiler: Compiler): Promise<Row[]> {
    if (!this.registered.has(`${spec.sourceType}\u0000${spec.param}`)) return [];
    const byType = new Map<string, string[]>();
    for (const r of frontier) byType.set(r.t, [...(byType.get(r.t) ?? []), r.i]);
    const vis = await compiler.visible([spec.sourceType]);
    const out: Row[] = [];
    for (const [type, ids] of byType) {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const rows = await this.fetch(and([
          { t: spec.sourceType, 'x.rf': { $elemMatch: { i: { $in: ids.slice(i, i + CHUNK) }, t: type, p: spec.param } } },
          vis,
        ]));
        for (const row of rows) out.push(row);
      }
    }
    return out;
  }
}
