// FHIR R4 validation for the hot path and on demand (docs/adr/0004-fhir-validation.md).
//
// - 'structure' (default): the official R4 JSON Schema compiled with ajv, per resource type, on
//   first use. Fast enough to run on every mapped resource.
// - 'strict': the same, then @medplum/core's StructureDefinition validator (required primitives,
//   choice types, invariants). Loads about 37 MB of definitions on first use.

import type { OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { resultOf, type FhirIssue, type FhirValidationResult } from './fhir-issue.ts';
import { FhirSchemaValidator } from './fhir-schema-validator.ts';
import { FhirStrictValidator } from './fhir-strict-validator.ts';

export type { FhirIssue, FhirIssueCode, FhirIssueSeverity, FhirValidationResult } from './fhir-issue.ts';

export type FhirValidationMode = 'structure' | 'strict';

export interface FhirValidateOptions {
  readonly mode?: FhirValidationMode;
}

let schemaValidator: FhirSchemaValidator | undefined;
let strictValidator: FhirStrictValidator | undefined;

function schema(): FhirSchemaValidator {
  schemaValidator ??= new FhirSchemaValidator();
  return schemaValidator;
}

function strict(): FhirStrictValidator {
  strictValidator ??= new FhirStrictValidator();
  return strictValidator;
}

/** Validates one resource (and the resources nested in it: contained, Bundle entries). */
export function validateResource(resource: unknown, options: FhirValidateOptions = {}): FhirValidationResult {
  const issues = schema().validate(resource);
  if (options.mode !== 'strict') return resultOf(issues);
  // The strict validator assumes the JSON shape is right: it runs only on what the schema accepted,
  // so its findings add to the schema's instead of repeating them.
  if (issues.length > 0) return resultOf(issues);
  return resultOf(strict().validate(resource as Resource));
}

/**
 * Validates a Bundle and each entry's resource; entry issues are located under
 * `Bundle.entry[n].resource`.
 */
export function validateBundle(bundle: unknown, options: FhirValidateOptions = {}): FhirValidationResult {
  const type = typeof bundle === 'object' && bundle !== null ? (bundle as { resourceType?: unknown }).resourceType : undefined;
  if (type !== 'Bundle') return resultOf([{ severity: 'error', code: 'invalid', expression: 'resourceType', diagnostics: "expected a resource of type 'Bundle'" }]);
  return validateResource(bundle, options);
}

/** FHIR R4 operationoutcome.html: one issue per finding; "all OK" as an informational issue when there is none (issue is 1..*). */
export function toOperationOutcome(issues: readonly FhirIssue[]): OperationOutcome {
  if (issues.length === 0) return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: 'All OK' }] };
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i): OperationOutcomeIssue => ({
      severity: i.severity,
      code: i.code,
      diagnostics: i.diagnostics,
      ...(i.expression === '' ? {} : { expression: [i.expression] }),
    })),
  };
}
