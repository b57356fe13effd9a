// The result shape shared by the structural (JSON Schema), strict (StructureDefinition) and US Core
// checks. An issue names a rule and a location, never an element's value: issues reach logs, ACKs
// and OperationOutcomes, and a value may be PHI.

export type FhirIssueSeverity = 'error' | 'warning';

/** FHIR R4 valueset-issue-type codes used here (operationoutcome.html, IssueType). */
export type FhirIssueCode =
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'code-invalid'
  | 'invalid'
  | 'not-supported'
  | 'processing';

export interface FhirIssue {
  readonly severity: FhirIssueSeverity;
  readonly code: FhirIssueCode;
  /** FHIRPath-like location of the element: `Patient.name[0].given[1]`, `Bundle.entry[3].resource.status`. */
  readonly expression: string;
  /** The rule that failed, value-free: "missing required element 'code'". */
  readonly diagnostics: string;
}

export interface FhirValidationResult {
  /** True when no issue has severity 'error'. */
  readonly valid: boolean;
  readonly issues: readonly FhirIssue[];
}

export function resultOf(issues: readonly FhirIssue[]): FhirValidationResult {
  return { valid: !issues.some((i) => i.severity === 'error'), issues };
}

/** Renders a JSON pointer (ajv instancePath, RFC 6901) as a FHIRPath-like location under `root`. */
export function pointerToExpression(root: string, pointer: string): string {
  if (pointer === '') return root;
  let out = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^(0|[1-9][0-9]*)$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return out;
}
