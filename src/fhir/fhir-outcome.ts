// Errors at the FHIR edge speak FHIR: every failure is an OperationOutcome (FHIR R4 operationoutcome.html)
// whose issues carry our stable code in issue.details.coding (system urn:switchboard:error), so a client
// can branch on the code and a person can look it up in docs/reference/errors.md. Diagnostics are the
// registry's messages, which name types, ids, parameters and element paths, never an element's value.
import { STATUS_CODES } from 'node:http';
import { isSwitchboardError, SwitchboardError, type ErrorCode, type ErrorParams } from '../core/errors.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import type { FhirIssue } from './fhir-validator.ts';

export const SWB_ERROR_SYSTEM = 'urn:switchboard:error';

export interface OutcomeIssue {
  readonly severity: 'fatal' | 'error' | 'warning' | 'information';
  readonly code: string;
  readonly details?: { readonly coding?: ReadonlyArray<{ readonly system: string; readonly code: string }>; readonly text?: string };
  readonly diagnostics?: string;
  readonly expression?: readonly string[];
}

export interface OperationOutcome extends FhirResource {
  readonly resourceType: 'OperationOutcome';
  readonly issue: readonly OutcomeIssue[];
}

/** A SwitchboardError that also carries located issues (validation findings, a Bundle entry's index). */
export class FhirApiError extends SwitchboardError {
  readonly issues: readonly FhirIssue[];

  constructor(code: ErrorCode, params: ErrorParams, issues: readonly FhirIssue[] = [], options?: { cause?: unknown }) {
    super(code, params, options);
    this.issues = issues;
  }
}

/** FHIR R4 valueset-issue-type for our codes; anything else by its HTTP status. */
const ISSUE_CODES: Partial<Record<ErrorCode, string>> = {
  SWB_ERR_FHIR_NOT_FOUND: 'not-found',
  SWB_ERR_FHIR_UNKNOWN_TYPE: 'not-supported',
  SWB_ERR_FHIR_GONE: 'deleted',
  SWB_ERR_FHIR_VERSION_CONFLICT: 'conflict',
  SWB_ERR_FHIR_MULTIPLE_MATCHES: 'multiple-matches',
  SWB_ERR_FHIR_ID_EXISTS: 'duplicate',
  SWB_ERR_FHIR_INVALID_JSON: 'structure',
  SWB_ERR_FHIR_INVALID_RESOURCE: 'invalid',
  SWB_ERR_FHIR_INVALID_REQUEST: 'invalid',
  SWB_ERR_FHIR_INVALID_BUNDLE: 'invalid',
  SWB_ERR_FHIR_INVALID_SEARCH: 'invalid',
  SWB_ERR_FHIR_UNKNOWN_PARAMETER: 'not-supported',
  SWB_ERR_FHIR_VALIDATION_FAILED: 'processing',
  SWB_ERR_FHIR_FORMAT_NOT_SUPPORTED: 'not-supported',
  SWB_ERR_FHIR_MEDIA_TYPE: 'not-supported',
  SWB_ERR_FHIR_METHOD_NOT_ALLOWED: 'not-supported',
  SWB_ERR_FHIR_TOO_LARGE: 'too-long',
  SWB_ERR_STORE_BAD_CURSOR: 'invalid',
  SWB_ERR_STORE_UNAVAILABLE: 'transient',
};

function issueCodeFor(code: ErrorCode, status: number): string {
  const known = ISSUE_CODES[code];
  if (known !== undefined) return known;
  if (status === 401) return 'login';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 429) return 'throttled';
  if (status === 412 || status === 409) return 'conflict';
  if (status >= 500) return status === 503 ? 'transient' : 'exception';
  return 'invalid';
}

const coding = (code: ErrorCode): { coding: Array<{ system: string; code: string }> } => ({ coding: [{ system: SWB_ERROR_SYSTEM, code }] });

/** The OperationOutcome for an error: a first issue with the code and message, then each located issue. */
export function outcomeOf(error: SwitchboardError): OperationOutcome {
  const head: OutcomeIssue = {
    severity: 'error',
    code: issueCodeFor(error.code, error.httpStatus),
    details: { ...coding(error.code), text: error.message },
    diagnostics: error.message,
  };
  const located = error instanceof FhirApiError ? error.issues : [];
  return {
    resourceType: 'OperationOutcome',
    issue: [
      head,
      ...located.map(
        (i): OutcomeIssue => ({
          severity: i.severity,
          code: i.code,
          details: coding(error.code),
          diagnostics: i.diagnostics,
          ...(i.expression === '' ? {} : { expression: [i.expression] }),
        }),
      ),
    ],
  };
}

/** An informational outcome (Prefer: return=OperationOutcome on success, FHIR R4 http.html#ops). */
export function informationOutcome(text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: text }] };
}

/** Any thrown value as a SwitchboardError; an unexpected one becomes a 500 naming only the request id. */
export function asSwitchboardError(error: unknown, requestId: string): SwitchboardError {
  if (isSwitchboardError(error)) return error;
  return new SwitchboardError('SWB_ERR_INTERNAL_UNEXPECTED', { ref: requestId }, { cause: error });
}

/** `201 Created` (Bundle.entry.response.status is the status code, optionally with its text). */
export function statusLine(status: number): string {
  const text = STATUS_CODES[status];
  return text === undefined ? String(status) : `${status} ${text}`;
}

/**
 * An entry's failure re-located under `Bundle.entry[n]` (FHIR R4 http.html#transaction: the
 * OperationOutcome names the entry that failed). Validation issues move under `.resource`.
 */
export function entryError(error: SwitchboardError, index: number, what: string): FhirApiError {
  const at = `Bundle.entry[${index}]`;
  const moved = (error instanceof FhirApiError ? error.issues : []).map((i) => ({
    ...i,
    expression: i.expression === '' ? at : `${at}.resource${i.expression.includes('.') ? i.expression.slice(i.expression.indexOf('.')) : ''}`,
  }));
  const located: FhirIssue[] = [{ severity: 'error', code: 'processing', expression: at, diagnostics: `${at} (${what}) failed: ${error.message}` }, ...moved];
  return new FhirApiError(error.code, error.params, located, { cause: error });
}
