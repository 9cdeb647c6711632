// The websocket channel's bind semantics (R4 subscription.html#2.46.7.2, Backport IG
// "websocket" channel). A client gets a token from Subscription/[id]/$get-ws-binding-token (a
// read of that Subscription, so the caller's access is checked there), connects to the
// websocket URL and sends `bind-with-token <token>`; the server answers `bound <id>` and
// then sends, per notification, `ping <id>` (R4 criteria subscriptions) or the notification
// Bundle (topic-based ones). R4's bare `bind <id>` would let anyone who guesses an id listen,
// so it is refused. Tokens are random, short-lived, for one subscription, and used once; they
// are kept in the store (binding-tokens.ts), so any instance binds a token another issued.
// The transport (frames) is the HTTP layer's; this file sees peers that send and close.
import type { BindingTokens } from './binding-tokens.js';

export interface Peer {
  send(text: string): boolean;
  close(code: number, reason?: string): void;
  readonly open: boolean;
}

/** Subscriptions one connection may bind. */
const MAX_BINDS = 20;
/** Messages of one connection waiting to be handled, at most. */
const MAX_WAITING = 4;

export class WebSocketHub {
  private readonly bound = new Map<string, Set<Peer>>();
  private readonly byPeer = new Map<Peer, Set<string>>();
  /** Per connection: its messages in hand, and the last one's handling (they run in order). */
  private readonly waiting = new Map<Peer, number>();
  private readonly chains = new Map<Peer, Promise<void>>();

  /** @param url the websocket URL advertised to clients; @param onBind a subscription gained a listener. */
  constructor(readonly url: string, private readonly tokens: BindingTokens, private readonly onBind: (id: string) => void = () => undefined) {}

  issue(id: string): Promise<{ token: string; expires: Date }> {
    return this.tokens.issue(id);
  }

  /**
   * A text message from a client. A connection's messages are handled one after another (a
   * bind looks its token up in the store); a client piling up more than a few is closed.
   */
  message(peer: Peer, text: string): void {
    const waiting = this.waiting.get(peer) ?? 0;
    if (waiting >= MAX_WAITING) return peer.close(1008, 'too many messages at once');
    this.waiting.set(peer, waiting + 1);
    const next = (this.chains.get(peer) ?? Promise.resolve()).then(() => this.handle(peer, text)).catch(() => peer.close(1011, 'bind failed'))
      .finally(() => {
        const n = (this.waiting.get(peer) ?? 1) - 1;
        if (n > 0) this.waiting.set(peer, n);
        else {
          this.waiting.delete(peer);
          if (this.chains.get(peer) === next) this.chains.delete(peer);
        }
      });
    this.chains.set(peer, next);
  }

  private async handle(peer: Peer, text: string): Promise<void> {
    if (!peer.open) return;
    const m = /^bind-with-token ([A-Za-z0-9_-]{1,100})$/.exec(text.trim());
    if (!m) {
      const bare = /^bind /.test(text) ? 'bind needs a token from $get-ws-binding-token: send bind-with-token <token>' : 'unknown message';
      return peer.close(1008, bare);
    }
    const id = await this.tokens.take(m[1] ?? '');
    if (!peer.open) return;
    if (id === undefined) return peer.close(1008, 'invalid or expired binding token');
    const t = { id };
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

  /** Subscriptions with a connection bound here. */
  boundIds(): string[] {
    return [...this.bound.keys()];
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
