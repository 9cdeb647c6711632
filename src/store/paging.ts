// Keyset paging links shared by the adapters: a page fetched forwards (after a boundary) or
// backwards (before one) gets the cursors of its neighbours from its first and last rows.

/**
 * `more`: a row beyond the page was found in the direction of travel; `cursor`: the page was
 * reached through a cursor (so there is a page on the other side); `rows` in display order.
 */
export function pageLinks<R>(rows: R[], more: boolean, cursor: boolean, backwards: boolean, boundary: (row: R, d: 'n' | 'p') => string): { next?: string; previous?: string } {
  const first = rows[0];
  const last = rows[rows.length - 1];
  const next = backwards ? (last && cursor ? boundary(last, 'n') : undefined) : (more && last ? boundary(last, 'n') : undefined);
  const previous = backwards ? (more && first ? boundary(first, 'p') : undefined) : (cursor && first ? boundary(first, 'p') : undefined);
  return { ...(next ? { next } : {}), ...(previous ? { previous } : {}) };
}
