// The authorization server's signing keys (RS256, for id_tokens): created on first start, kept
// in the auth database, rotated on a schedule. A retired key stays in the JWKS until every
// token it signed has expired, so verifiers never meet an unknown kid.
import { exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type CryptoKey, type JWK } from 'jose';
import type { AuthStore } from './store.js';

export interface SigningKey {
  kid: string;
  key: CryptoKey | Uint8Array;
}

/** How long a retired key is still published (longer than any id_token lives). */
const RETIRED_KEPT_MS = 24 * 3600_000;

/**
 * True when this instance may rotate now: the holder of a lease in the shared store (many
 * instances on one database rotate once, not once each).
 */
export type RotationLease = () => Promise<boolean>;

export class KeyRing {
  private current: SigningKey | undefined;
  private lease: RotationLease | undefined;
  /** A rotation under way here: concurrent signers wait for it rather than rotate again. */
  private rotating: Promise<SigningKey> | undefined;

  constructor(private readonly store: AuthStore, private readonly rotateAfterMs: number) {}

  /** Rotations from now on happen only while `lease` says this instance holds the rotation lease. */
  guardRotation(lease: RotationLease): void {
    this.lease = lease;
  }

  /** The key to sign with: the newest, or a new one when it is older than the rotation period. */
  async signing(now = Date.now()): Promise<SigningKey> {
    const keys = this.store.signingKeys().filter((k) => k.retiredAt === undefined);
    const newest = keys[0];
    const due = !newest || now - newest.createdAt >= this.rotateAfterMs;
    // Another instance holds the lease and rotates: sign with the newest key until its new one
    // is stored (only a store with no key at all makes a key regardless: something must sign).
    if (newest && (!due || (this.lease && !await this.lease()))) {
      if (this.current?.kid !== newest.kid) {
        this.current = { kid: newest.kid, key: await importJWK(newest.privateJwk as JWK, 'RS256') };
      }
      return this.current;
    }
    this.rotating ??= this.rotate(now).finally(() => { this.rotating = undefined; });
    return this.rotating;
  }

  /** Makes a new signing key; the previous ones are retired but stay in the JWKS a while. */
  async rotate(now = Date.now()): Promise<SigningKey> {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    for (const k of this.store.signingKeys()) {
      if (k.retiredAt === undefined) this.store.retireSigningKey(k.kid, now);
      else if (now - k.retiredAt > RETIRED_KEPT_MS) this.store.deleteSigningKey(k.kid);
    }
    this.store.putSigningKey(kid, now, { ...jwk, kid, alg: 'RS256', use: 'sig' });
    this.current = { kid, key: privateKey };
    return this.current;
  }

  /** The public keys (current and recently retired) — never a private member. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.signing();
    const keys = this.store.signingKeys().map((k) => {
      const { kty, n, e } = k.privateJwk as { kty: string; n: string; e: string };
      return { kty, n, e, kid: k.kid, alg: 'RS256', use: 'sig' };
    });
    return { keys };
  }
}
