// The search parameter types (R4 search.html#ptypes), one row each: the index table that holds
// their values, whether they sort, and the IR conditions their parse produces. The pieces of a
// type are found from here and are kept complete by the type-checker:
//   parse    — SearchParser.byType (src/search/parse.ts), a map over IndexedParamType;
//   extract  — Indexer.byType (src/search/extract.ts), a map over IndexedParamType;
//   compile  — each `conditions` kind in SqlCompiler.condition (src/store/sqlite/compile.ts) and
//              Compiler.condition (src/store/mongo/compile.ts): switches over Condition['kind']
//              that end in `unreachable`, so a kind without a compiler fails `tsc`.
import type { Condition, IndexTable } from './ir.js';
import type { ParamType } from './params.js';

/** Every type but `special` (near): those with an index table, a parser and an extractor. */
export type IndexedParamType = Exclude<ParamType, 'special'>;

export interface ParamTypeInfo {
  /** The index table holding its values (and that `:missing` looks in). */
  table: IndexTable;
  /** The IR conditions its parse produces (besides the shared `missing`, `chain` and `has`). */
  conditions: readonly Condition['kind'][];
  /** Whether a sort key is kept for it (R4 search.html#sort); reference and composite are not sortable. */
  sortable: boolean;
}

export const PARAM_TYPES = {
  token: { table: 'token', conditions: ['token', 'token-text'], sortable: true },
  string: { table: 'string', conditions: ['string'], sortable: true },
  date: { table: 'date', conditions: ['date'], sortable: true },
  number: { table: 'number', conditions: ['number'], sortable: true },
  quantity: { table: 'quantity', conditions: ['quantity'], sortable: true },
  reference: { table: 'reference', conditions: ['reference', 'token'], sortable: false },
  uri: { table: 'uri', conditions: ['uri'], sortable: true },
  composite: { table: 'composite', conditions: ['composite'], sortable: false },
} as const satisfies Record<IndexedParamType, ParamTypeInfo>;

export function isIndexedType(t: ParamType): t is IndexedParamType {
  return t !== 'special';
}

/** For the exhaustive switches of the compilers: a case left out makes this call fail `tsc`. */
export function unreachable(x: never): never {
  throw new Error(`unhandled search condition ${JSON.stringify(x)}`);
}
