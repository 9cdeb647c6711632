// OperationOutcome (R4 operationoutcome.html): the issue shape every layer reports problems in,
// and the one place that builds the resource from issues.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';

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

export function operationOutcome(issues: readonly Issue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues.map((i) => ({ ...i })) };
}

/** The OperationOutcome as JSON text; `<` escaped so quoted markup stays inert wherever it lands. */
export function outcomeJson(issues: readonly Issue[]): string {
  return JSON.stringify(operationOutcome(issues)).replace(/</g, '\\u003c');
}
