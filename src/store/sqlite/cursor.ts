// History cursors: the change sequence of the last entry served, opaque to clients.
import { StoreError } from '../port.js';

export function encodeCursor(seq: number): string {
  return Buffer.from(`h${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^h([1-9][0-9]{0,15})$/.exec(text);
  if (!m) throw new StoreError('invalid-cursor', 'the paging cursor is not valid');
  return Number(m[1]);
}
