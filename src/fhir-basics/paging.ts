// Bundle paging links (R4 http.html#paging): self, first, previous and next, from the page's
// cursors, for searches, history and operations alike.
import type { BundleLink } from 'fhir/r4.js';
import type { QueryPairs } from './query.js';

export interface PageCursors {
  /** The cursor this page was reached with (absent on the first page). */
  cursor?: string;
  next?: string;
  previous?: string;
}

/**
 * Links for a page at `path` (absolute, no query), keeping the parameters `kept` (without
 * `_cursor`) and adding `_cursor` where a link leads to another page.
 */
export function pageLinks(path: string, kept: QueryPairs, page: PageCursors): BundleLink[] {
  const link = (cursor?: string): string => {
    const q = new URLSearchParams(kept.filter(([k]) => k !== '_cursor'));
    if (cursor) q.set('_cursor', cursor);
    const qs = q.toString();
    return qs ? `${path}?${qs}` : path;
  };
  const links: BundleLink[] = [{ relation: 'self', url: link(page.cursor) }];
  if (page.cursor) links.push({ relation: 'first', url: link() });
  if (page.previous) links.push({ relation: 'previous', url: link(page.previous) });
  if (page.next) links.push({ relation: 'next', url: link(page.next) });
  return links;
}
