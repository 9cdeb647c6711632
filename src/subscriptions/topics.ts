// The canonical topics Flint offers for topic-based subscriptions (Subscriptions R5 Backport IG,
// hl7.org/fhir/uv/subscriptions-backport STU 1.1): which writes trigger each, and which search
// parameters a subscriber may filter by (backport-filter-criteria, `Type?param=value`).
import type { Resource } from 'fhir/r4.js';

export interface Topic {
  readonly url: string;
  readonly title: string;
  /** Resource types whose writes may trigger it. */
  readonly types: readonly string[];
  /** Whether this change (previous → current, both of one of `types`) is an event of the topic. */
  triggered(previous: Resource | undefined, current: Resource | undefined): boolean;
  /** Search parameters filters may use, per type. */
  readonly filters: Readonly<Record<string, readonly string[]>>;
}

export const TOPIC_BASE = 'http://flint.health/fhir/SubscriptionTopic';

const statusOf = (r: Resource | undefined): string | undefined => (r as { status?: string } | undefined)?.status;

export const TOPICS: readonly Topic[] = [
  {
    // A lab result stored or changed: the EHR learns of it without polling.
    url: `${TOPIC_BASE}/patient-result`,
    title: 'An Observation or DiagnosticReport of a patient was created or changed',
    types: ['Observation', 'DiagnosticReport'],
    triggered: (_prev, cur) => cur !== undefined,
    filters: { Observation: ['patient', 'subject', 'code', 'category', 'status'], DiagnosticReport: ['patient', 'subject', 'code', 'category', 'status'] },
  },
  {
    // R4 encounter.html: status `finished`; the event is the transition into it.
    url: `${TOPIC_BASE}/encounter-finished`,
    title: 'An Encounter was finished',
    types: ['Encounter'],
    triggered: (prev, cur) => statusOf(cur) === 'finished' && statusOf(prev) !== 'finished',
    filters: { Encounter: ['patient', 'subject', 'class', 'type', 'service-provider'] },
  },
  {
    // A Claim is answered when its ClaimResponse is created.
    url: `${TOPIC_BASE}/claim-answered`,
    title: 'A Claim was answered (a ClaimResponse was created)',
    types: ['ClaimResponse'],
    triggered: (prev, cur) => prev === undefined && cur !== undefined,
    filters: { ClaimResponse: ['patient', 'request', 'insurer', 'outcome'] },
  },
];

export function topicByUrl(url: string): Topic | undefined {
  const bare = url.split('|')[0];
  return TOPICS.find((t) => t.url === bare);
}
