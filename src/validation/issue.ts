// The shape of one problem found in a resource: an OperationOutcome.issue, built by validators
// and turned into an HTTP answer by the layers above.
import type { OperationOutcomeIssue } from 'fhir/r4.js';

export type Severity = OperationOutcomeIssue['severity'];
export type IssueCode = OperationOutcomeIssue['code'];

export interface Issue {
  severity: Severity;
  code: IssueCode;
  /** Human-readable message. */
  diagnostics: string;
  /** FHIRPath location(s) of the problem, e.g. `Patient.name[0].given[1]`. */
  expression?: string[];
}

export function issue(severity: Severity, code: IssueCode, diagnostics: string, expression?: string): Issue {
  return expression === undefined ? { severity, code, diagnostics } : { severity, code, diagnostics, expression: [expression] };
}

export function hasErrors(issues: readonly Issue[]): boolean {
  return issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
}
