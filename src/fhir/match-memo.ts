// Conditional matches remembered within one transaction Bundle. A transaction resolves its
// conditional creates, updates and references first (to know every entry's identity), and the
// interactions then look the same criteria up again when they run; in between, only the
// transaction's own writes can change the answer. So the first answer is kept and reused until a
// write could change it: a write of the matched resource itself, or of a resource of the same
// type that might now match. Whether it might match is decided conservatively: for criteria made
// only of `identifier` tokens, a written resource that does not even contain one of the values
// cannot match (an index entry is a value of the resource); for any other criteria, every write
// of the type forgets them. Forgetting only costs a search again, as before.
import type { Resource } from 'fhir/r4.js';
import type { Store, VersionRecord } from '../store/port.js';
import type { AccessPolicy } from './context.js';

interface Remembered {
  type: string;
  /** The match, or undefined for "none". */
  record: VersionRecord | undefined;
  /** Lower-case, JSON-escaped identifier values one of which a matching resource must contain; undefined: any write of the type may match. */
  values: string[] | undefined;
  /** Matches depend on the caller's access policy: reused only for the same one. */
  access: AccessPolicy | undefined;
}

/** Splits on an unescaped separator and removes the escapes (R4 search.html#escaping). */
function split(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** For criteria of `identifier` tokens only: the values a matching resource must contain one of. */
function identifierValues(criteria: string): string[] | undefined {
  const pairs = [...new URLSearchParams(criteria).entries()];
  if (pairs.length === 0 || pairs.some(([k]) => k !== 'identifier')) return undefined;
  const values: string[] = [];
  for (const [, v] of pairs) {
    for (const token of split(v, ',')) {
      const parts = split(token, '|');
      const code = parts.length > 1 ? parts.slice(1).join('|') : (parts[0] ?? '');
      const needle = code !== '' ? code : parts.length > 1 ? (parts[0] ?? '') : '';
      if (needle === '') return undefined;
      values.push(JSON.stringify(needle).slice(1, -1).toLowerCase());
    }
  }
  return values;
}

export class MatchMemo {
  private readonly remembered = new Map<string, Remembered>();

  /** The remembered answer (`{ record }`, record undefined for none), or undefined when not known. */
  get(access: AccessPolicy | undefined, type: string, criteria: string): { record: VersionRecord | undefined } | undefined {
    const r = this.remembered.get(`${type}?${criteria}`);
    return r && r.access === access ? { record: r.record } : undefined;
  }

  set(access: AccessPolicy | undefined, type: string, criteria: string, record: VersionRecord | undefined): void {
    this.remembered.set(`${type}?${criteria}`, { type, record, values: identifierValues(criteria), access });
  }

  /** A write of `type/id` (`resource` undefined: a deletion) is about to be made. */
  written(type: string, id: string | undefined, resource: Resource | undefined): void {
    let json: string | undefined;
    for (const [key, r] of this.remembered) {
      if (r.type !== type) continue;
      let keep = r.record === undefined || r.record.id !== id;
      // A deletion removes no match but the one it deletes; anything else written may add one.
      if (keep && resource) {
        if (r.values === undefined) keep = false;
        else {
          json ??= JSON.stringify(resource).toLowerCase();
          keep = !r.values.some((v) => (json as string).includes(v));
        }
      }
      if (!keep) this.remembered.delete(key);
    }
  }
}

const memos = new WeakMap<Store, MatchMemo>();

/** The memo of a store made by `rememberingStore`, if it is one. */
export function memoOf(store: Store): MatchMemo | undefined {
  return memos.get(store);
}

/**
 * `store` (a transaction's) seen through a memo of conditional matches: every resource write
 * through it tells the memo first. Everything else goes to `store` unchanged.
 */
export function rememberingStore(store: Store, memo = new MatchMemo()): Store {
  const view: Store = new Proxy(store, {
    get(target, prop) {
      switch (prop) {
        case 'create':
          return (resource: Resource, opts?: Parameters<Store['create']>[1]) => {
            memo.written(resource.resourceType, resource.id, resource);
            return target.create(resource, opts);
          };
        case 'update':
          return (resource: Resource & { id: string }, opts?: Parameters<Store['update']>[1]) => {
            memo.written(resource.resourceType, resource.id, resource);
            return target.update(resource, opts);
          };
        case 'delete':
          return (type: string, id: string, opts?: Parameters<Store['delete']>[2]) => {
            memo.written(type, id, undefined);
            return target.delete(type, id, opts);
          };
        case 'transaction':
          // Already inside one: the nested "transaction" joins it, still seen through the memo.
          return <T>(fn: (tx: Store) => Promise<T>) => target.transaction((tx) => fn(tx === target ? view : rememberingStore(tx, memo)));
        default: {
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        }
      }
    },
  });
  memos.set(view, memo);
  return view;
}
