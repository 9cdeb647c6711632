// One error type for the whole engine: FhirError(status, issues). Only the HTTP layer turns it
// into a response (an OperationOutcome with this status).
import { issue, type Issue, type IssueCode } from '../fhir-basics/outcome.js';

export class FhirError extends Error {
  readonly issues: Issue[];

  constructor(
    readonly status: number,
    issues: Issue[] | string,
    code: IssueCode = 'processing',
    /** Extra response headers (e.g. Allow on 405). */
    readonly headers: Record<string, string> = {},
  ) {
    const list = typeof issues === 'string' ? [issue(status >= 500 ? 'fatal' : 'error', code, issues)] : issues;
    super(list.map((i) => i.diagnostics).join('; '));
    this.name = 'FhirError';
    this.issues = list;
  }
}

export const badRequest = (msg: string, code: IssueCode = 'invalid'): FhirError => new FhirError(400, msg, code);
export const notFound = (msg: string): FhirError => new FhirError(404, msg, 'not-found');
export const gone = (msg: string): FhirError => new FhirError(410, msg, 'deleted');
export const conflict = (msg: string): FhirError => new FhirError(409, msg, 'conflict');
export const preconditionFailed = (msg: string): FhirError => new FhirError(412, msg, 'conflict');
export const unprocessable = (issues: Issue[]): FhirError => new FhirError(422, issues);
