// History cursors (the change sequence of the last entry served, opaque to clients) and pages.
import { StoreError, type HistoryPage, type VersionRecord } from './port.js';

export function encodeCursor(seq: number): string {
  return Buffer.from(`h${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^h([1-9][0-9]{0,15})$/.exec(text);
  if (!m) throw new StoreError('invalid-cursor', 'the paging cursor is not valid');
  return Number(m[1]);
}

/** A history page from up to count + 1 versions, newest first: the extra one only says there is more. */
export function historyPage(records: VersionRecord[], count: number, total?: number): HistoryPage {
  const more = records.length > count;
  const page = more ? records.slice(0, count) : records;
  const last = page[page.length - 1];
  return {
    records: page,
    ...(more && last ? { next: encodeCursor(last.seq) } : {}),
    ...(total !== undefined ? { total } : {}),
  };
}
