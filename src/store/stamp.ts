// What every adapter does to a resource on write: server-managed id, versionId and lastUpdated
// replace whatever the client sent (R4 resource.html#Meta), and the JSON is fixed once.
import type { Resource } from 'fhir/r4.js';

/** Serialises `resource` with server-managed meta, resourceType and id first. */
export function stamp(resource: Resource, id: string, versionId: string, lastUpdated: string): string {
  const { resourceType, id: _ignored, meta, ...rest } = resource;
  void _ignored;
  const stampedMeta = { ...(meta ?? {}), versionId, lastUpdated };
  return JSON.stringify({ resourceType, id, meta: stampedMeta, ...rest });
}

/**
 * Issues lastUpdated instants that never go backwards, even if the wall clock does, so that the
 * change sequence and lastUpdated order agree.
 */
export class MonotonicClock {
  private last = 0;

  constructor(startAfter?: string) {
    if (startAfter) this.last = Date.parse(startAfter) || 0;
  }

  /** Moves past an instant written elsewhere (a restored version) and returns it unchanged. */
  observe(instant: string): string {
    const at = Date.parse(instant);
    if (at > this.last) this.last = at;
    return instant;
  }

  next(): string {
    const now = Date.now();
    this.last = now > this.last ? now : this.last;
    return new Date(this.last).toISOString();
  }
}
