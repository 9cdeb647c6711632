// Sending to a subscriber's endpoint without becoming a tool for server-side request forgery:
// https only, and every address the name resolves to must be public, checked at delivery time
// (a name may change its answer after the Subscription was accepted); the connection goes to the
// address that was checked (no second lookup), and redirects are not followed. allowInsecure
// (SUBSCRIPTION_ALLOW_INSECURE=1) lifts both rules for development and tests.
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import http from 'node:http';
import https from 'node:https';

export class DeliveryError extends Error {
  constructor(message: string, readonly refused = false) {
    super(message);
    this.name = 'DeliveryError';
  }
}

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  // Unspecified and loopback; IPv4-compatible (deprecated) and NAT64 embed IPv4 addresses.
  ['::', 96], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) blocked.addSubnet(net, bits, 'ipv6');

/** The 8 groups of an IPv6 address (with an embedded dotted quad converted). */
function groups(address: string): number[] | undefined {
  let a = address.toLowerCase().split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted?.[1]) {
    const p = dotted[1].split('.').map(Number);
    a = a.slice(0, -dotted[1].length) + `${(((p[0] ?? 0) << 8) | (p[1] ?? 0)).toString(16)}:${(((p[2] ?? 0) << 8) | (p[3] ?? 0)).toString(16)}`;
  }
  const [head, tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = a.includes('::') ? 8 - h.length - t.length : 0;
  const all = [...h, ...Array<string>(fill).fill('0'), ...t].map((x) => parseInt(x, 16));
  return all.length === 8 && all.every((n) => n >= 0 && n <= 0xffff) ? all : undefined;
}

/** True when the address is loopback, private, link-local, reserved or otherwise not public. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true;
  const g = groups(address);
  if (!g) return true;
  // IPv4-mapped (::ffff:a.b.c.d): judged as the IPv4 address it is.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const v4 = [(g[6] ?? 0) >> 8, (g[6] ?? 0) & 255, (g[7] ?? 0) >> 8, (g[7] ?? 0) & 255].join('.');
    return blocked.check(v4, 'ipv4');
  }
  return blocked.check(address.split('%')[0] ?? address, 'ipv6');
}

/** Resolves the endpoint's host and picks an address that may be contacted, or refuses. */
export async function checkedTarget(url: URL, allowInsecure: boolean): Promise<{ address: string; family: 4 | 6 }> {
  if (url.protocol !== 'https:' && !(allowInsecure && url.protocol === 'http:')) throw new DeliveryError('endpoint is not https', true);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string; family: number }[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true });
    } catch {
      throw new DeliveryError('endpoint host does not resolve');
    }
  }
  // Every answer must be public: a name with one public and one private address is refused.
  if (!allowInsecure && (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address)))) {
    throw new DeliveryError('endpoint resolves to a non-public address', true);
  }
  const first = addresses[0];
  if (!first) throw new DeliveryError('endpoint host does not resolve');
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

export interface SendOptions {
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  allowInsecure: boolean;
}

// Kept-alive connections, as many per endpoint host as subscriptions deliver at once (DELIVERY_DEFAULTS.concurrency).
const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent({ keepAlive: true, maxSockets: 16 }) };

/** Sends one request; resolves with the status when it is 2xx, else throws DeliveryError. */
export async function send(endpoint: string, opts: SendOptions): Promise<number> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new DeliveryError('endpoint is not a URL', true);
  }
  const target = await checkedTarget(url, opts.allowInsecure);
  const secure = url.protocol === 'https:';
  const lib = secure ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = lib.request(url, {
      method: opts.method,
      agent: secure ? agents.https : agents.http,
      headers: { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : { 'content-length': '0' }) },
      // Connect to the address that was checked, not to a second lookup's answer.
      lookup: (_h, o, cb) => {
        if ((o as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [target]);
        else cb(null, target.address, target.family);
      },
      timeout: opts.timeoutMs,
    }, (res) => {
      const status = res.statusCode ?? 0;
      let seen = 0;
      // The answer's body is not needed; read at most 64 KiB of it, then drop the connection.
      res.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen > 65_536) res.destroy();
      });
      res.on('end', () => (status >= 200 && status < 300 ? resolve(status) : reject(new DeliveryError(status >= 300 && status < 400 ? `endpoint redirected (${status}); redirects are not followed` : `endpoint answered ${status}`))));
      res.on('error', () => reject(new DeliveryError('endpoint response broken')));
      res.on('close', () => { if (!res.complete) reject(new DeliveryError('endpoint response incomplete')); });
    });
    const timer = setTimeout(() => req.destroy(new DeliveryError('endpoint timed out')), opts.timeoutMs);
    req.on('timeout', () => req.destroy(new DeliveryError('endpoint timed out')));
    req.on('error', (e) => reject(e instanceof DeliveryError ? e : new DeliveryError(`endpoint unreachable (${(e as NodeJS.ErrnoException).code ?? 'error'})`)));
    req.on('close', () => clearTimeout(timer));
    req.end(opts.body);
  });
}
