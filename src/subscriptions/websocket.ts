// The websocket channel's bind semantics (R4 subscription.html#2.46.7.2, Backport IG
// "websocket" channel). A client gets a token from Subscription/[id]/$get-ws-binding-token (a
// read of that Subscription, so the caller's access is checked there), connects to the
// websocket URL and sends `bind-with-token <token>`; the server answers `bound <id>` and
// then sends, per notification, `ping <id>` (R4 criteria subscriptions) or the notification
// Bundle (topic-based ones). R4's bare `bind <id>` would let anyone who guesses an id listen,
// so it is refused. Tokens are random, short-lived, for one subscription, and used once.
// The transport (frames) is the HTTP layer's; this file sees peers that send and close.
import { randomBytes } from 'node:crypto';

export interface Peer {
  send(text: string): boolean;
  close(code: number, reason?: string): void;
  readonly open: boolean;
}

export const TOKEN_TTL_MS = 60_000;
/** Outstanding tokens kept at most (oldest dropped): bounds memory under a token-minting client. */
const MAX_TOKENS = 10_000;
/** Subscriptions one connection may bind. */
const MAX_BINDS = 20;

export class WebSocketHub {
  private readonly tokens = new Map<string, { id: string; expires: number }>();
  private readonly bound = new Map<string, Set<Peer>>();
  private readonly byPeer = new Map<Peer, Set<string>>();

  /** @param url the websocket URL advertised to clients; @param onBind a subscription gained a listener. */
  constructor(readonly url: string, private readonly onBind: (id: string) => void = () => undefined) {}

  issue(id: string, now = Date.now()): { token: string; expires: Date } {
    for (const [k, v] of this.tokens) {
      if (v.expires > now && this.tokens.size < MAX_TOKENS) break;
      this.tokens.delete(k);
    }
    const token = randomBytes(24).toString('base64url');
    const expires = now + TOKEN_TTL_MS;
    this.tokens.set(token, { id, expires });
    return { token, expires: new Date(expires) };
  }

  /** A text message from a client. */
  message(peer: Peer, text: string): void {
    const m = /^bind-with-token ([A-Za-z0-9_-]{1,100})$/.exec(text.trim());
    if (!m) {
      const bare = /^bind /.test(text) ? 'bind needs a token from $get-ws-binding-token: send bind-with-token <token>' : 'unknown message';
      return peer.close(1008, bare);
    }
    const t = this.tokens.get(m[1] ?? '');
    if (t) this.tokens.delete(m[1] ?? '');
    if (!t || t.expires < Date.now()) return peer.close(1008, 'invalid or expired binding token');
    const mine = this.byPeer.get(peer) ?? new Set<string>();
    if (!mine.has(t.id) && mine.size >= MAX_BINDS) return peer.close(1008, `at most ${MAX_BINDS} subscriptions per connection`);
    mine.add(t.id);
    this.byPeer.set(peer, mine);
    const set = this.bound.get(t.id) ?? new Set<Peer>();
    set.add(peer);
    this.bound.set(t.id, set);
    peer.send(`bound ${t.id}`);
    this.onBind(t.id);
  }

  closed(peer: Peer): void {
    for (const id of this.byPeer.get(peer) ?? []) {
      const set = this.bound.get(id);
      set?.delete(peer);
      if (set?.size === 0) this.bound.delete(id);
    }
    this.byPeer.delete(peer);
  }

  isBound(id: string): boolean {
    return (this.bound.get(id)?.size ?? 0) > 0;
  }

  /** Sends to every connection bound to the subscription; how many took it. */
  send(id: string, text: string): number {
    let n = 0;
    for (const p of [...(this.bound.get(id) ?? [])]) if (p.open && p.send(text)) n++;
    return n;
  }

  /** Closes the subscription's connections (it was switched off or deleted). */
  unbind(id: string): void {
    for (const p of [...(this.bound.get(id) ?? [])]) p.close(1000, 'subscription ended');
  }
}
