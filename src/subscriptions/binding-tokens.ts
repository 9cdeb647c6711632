// Websocket binding tokens ($get-ws-binding-token) kept in the store, so that a token issued by
// one instance binds on any other (issue 18: no sticky sessions). A token is a queued item of
// the store's job table under its own kind (no runner claims it), keyed by the SHA-256 of the
// token (the store never holds a usable token); taking it is the queued → cancelled change,
// atomic across instances, so a token binds once. Expired ones are swept now and then.
import { createHash, randomBytes } from 'node:crypto';
import type { WorkStore } from '../store/work.js';

export const TOKEN_TTL_MS = 60_000;
const KIND = 'ws-binding-token';
/** Issues between sweeps of expired tokens. */
const SWEEP_EVERY = 100;

const hash = (token: string): string => `wst-${createHash('sha256').update(token).digest('hex')}`;

export class BindingTokens {
  private issued = 0;

  constructor(private readonly work: () => WorkStore) {}

  async issue(subscription: string, now = Date.now()): Promise<{ token: string; expires: Date }> {
    if (++this.issued % SWEEP_EVERY === 0) await this.sweep(now);
    const token = randomBytes(24).toString('base64url');
    const expires = now + TOKEN_TTL_MS;
    await this.work().addJob(KIND, hash(token), { subscription, expires }, now);
    return { token, expires: new Date(expires) };
  }

  /** The subscription a valid, unused token binds; the token is used up (once, on any instance). */
  async take(token: string, now = Date.now()): Promise<string | undefined> {
    const id = hash(token);
    const work = this.work();
    const job = await work.getJob(id);
    if (job?.kind !== KIND || job.state !== 'queued' || !(await work.cancelJob(id, now))) return undefined;
    await work.deleteJob(id);
    const { subscription, expires } = job.data as { subscription?: unknown; expires?: unknown };
    return typeof subscription === 'string' && typeof expires === 'number' && expires >= now ? subscription : undefined;
  }

  private async sweep(now: number): Promise<void> {
    const work = this.work();
    for (const j of await work.listJobs(KIND)) {
      const expires = (j.data as { expires?: unknown }).expires;
      if (j.state !== 'queued' || typeof expires !== 'number' || expires < now) await work.deleteJob(j.id);
    }
  }
}
