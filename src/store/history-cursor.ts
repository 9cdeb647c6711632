// History cursors (the change sequence of the last entry served, opaque to clients) and pages.
// SQLite's sequence is unique, so its cursor is the number alone; MongoDB's order values may tie
// across Flint instances, so its cursor also names the last entry's resource, the tie-break
// (src/store/mongo/README.md, "Change order").
import { StoreError, type HistoryPage, type VersionRecord } from './port.js';

/** Where a history page ended: its last entry's order value and, when keyed, its resource. */
export interface HistoryMark {
  seq: number;
  type?: string;
  id?: string;
}

export function encodeCursor(seq: number, key?: { type: string; id: string }): string {
  return Buffer.from(key ? `h${seq}~${key.type}/${key.id}` : `h${seq}`).toString('base64url');
}

const CURSOR = /^h([1-9][0-9]{0,15})(?:~([A-Za-z]{1,64})\/([A-Za-z0-9\-.]{1,64}))?$/;

/** The mark a cursor carries (keyed or not). */
export function decodeMark(cursor: string): HistoryMark {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = CURSOR.exec(text);
  if (!m) throw new StoreError('invalid-cursor', 'the paging cursor is not valid');
  return { seq: Number(m[1]), ...(m[2] && m[3] ? { type: m[2], id: m[3] } : {}) };
}

/** The order value of an unkeyed cursor (SQLite). */
export function decodeCursor(cursor: string): number {
  const mark = decodeMark(cursor);
  if (mark.type !== undefined) throw new StoreError('invalid-cursor', 'the paging cursor is not valid');
  return mark.seq;
}

/**
 * A history page from up to count + 1 versions, newest first: the extra one only says there is
 * more. `keyed`: the cursor names the last entry's resource too (order values may tie).
 */
export function historyPage(records: VersionRecord[], count: number, total?: number, keyed = false): HistoryPage {
  const more = records.length > count;
  const page = more ? records.slice(0, count) : records;
  const last = page[page.length - 1];
  return {
    records: page,
    ...(more && last ? { next: encodeCursor(last.seq, keyed ? last : undefined) } : {}),
    ...(total !== undefined ? { total } : {}),
  };
}
