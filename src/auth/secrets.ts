// Passwords and client secrets: scrypt with a random salt, compared in constant time; random
// values (tokens, codes, launch handles) of 256 bits, base64url (URL-safe, as client-js needs).
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const KEYLEN = 32;
const COST = { N: 16384, r: 8, p: 1 };

function derive(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEYLEN, COST, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$<salt>$<hash>` (base64url). */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(secret, salt);
  return `scrypt$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifySecret(secret: string, stored: string | undefined): Promise<boolean> {
  const [scheme, salt, hash] = (stored ?? '').split('$');
  if (scheme !== 'scrypt' || !salt || !hash) {
    // Same work either way, so that timing does not tell unknown users from wrong passwords.
    await derive(secret, Buffer.alloc(16));
    return false;
  }
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(secret, Buffer.from(salt, 'base64url'));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
