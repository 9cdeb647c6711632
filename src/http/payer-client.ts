// The outbound side of Claim/$submit-to-payer: a PayerClient (src/clinic/payers.ts) that POSTs
// to a payer's FHIR endpoint with fetch. Built by the composition root from PAYER_URL/PAYER_TOKEN.
import type { Bundle } from 'fhir/r4.js';
import { PayerError, type PayerClient } from '../clinic/payers.js';

const TIMEOUT_MS = 30_000;

function diagnostics(json: unknown): string {
  const issues = (json as { issue?: { diagnostics?: string }[] } | null)?.issue;
  return Array.isArray(issues) ? issues.map((i) => i.diagnostics ?? '').filter(Boolean).join('; ').slice(0, 500) : '';
}

export function httpPayerClient(endpoint: string, token?: string): PayerClient {
  return {
    endpoint,
    async submit(bundle: Bundle): Promise<unknown> {
      let res: Response;
      try {
        res = await fetch(`${endpoint}/Claim/$submit`, {
          method: 'POST',
          headers: {
            'content-type': 'application/fhir+json', accept: 'application/fhir+json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(bundle),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
      } catch (err) {
        throw new PayerError(`unreachable (${err instanceof Error ? err.message : String(err)})`);
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new PayerError(`answered ${res.status} with a body that is not JSON`, res.status);
      }
      if (!res.ok) throw new PayerError(`answered ${res.status}${diagnostics(json) ? `: ${diagnostics(json)}` : ''}`, res.status);
      return json;
    },
  };
}
