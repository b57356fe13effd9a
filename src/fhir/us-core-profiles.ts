// The key rules of the US Core (6.1 to 9.0) profiles Switchboard produces, as data: required elements
// (min cardinality), fixed codes and required bindings, and the profiles' own invariants. The
// StructureDefinitions are not shipped here, so each rule restates one line of the profile page it
// cites (https://hl7.org/fhir/us/core/ + the page named on the profile). Rules are FHIRPath,
// evaluated by HL7's `fhirpath` package (us-core.ts). They are the constraints a sender must meet;
// Must Support elements that may be absent are not checked.

export type UsCoreRuleCode = 'required' | 'code-invalid' | 'value' | 'invariant';

export interface UsCoreRule {
  /** Stable rule name, shown in issues. */
  readonly key: string;
  /**
   * The elements the rule is checked on: a dotted element path from the resource (each array entry
   * is one element), or absent for the resource itself. When the path yields nothing, the rule does
   * not apply.
   */
  readonly on?: string;
  /** FHIRPath, evaluated on each element (typed as `<Type>.<on>`); the rule holds when it yields `true`. */
  readonly check: string;
  /** Where the issue points, relative to the element: `identifier`, `system`. */
  readonly at?: string;
  readonly code: UsCoreRuleCode;
  /**
   * The US Core major version that dropped the rule. It applies when the resource declares an
   * earlier version, no version, or no profile (the baseline is US Core 6.1, the version ONC's
   * HTI-1 rule names).
   */
  readonly droppedIn?: number;
  /** What the rule asks, value-free. */
  readonly human: string;
}

export interface UsCoreProfile {
  readonly url: string;
  readonly name: string;
  readonly resourceType: string;
  /** The profile page the rules come from. */
  readonly page: string;
  /** A profile this one constrains further: its rules apply too. */
  readonly parent?: string;
  readonly rules: readonly UsCoreRule[];
}

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const LOINC = "'http://loinc.org'";
const UCUM = "'http://unitsofmeasure.org'";

const required = (element: string, human = `${element} is required`): UsCoreRule => ({ key: `${element}-required`, check: `${element}.exists()`, at: element, code: 'required', human });

/** Each identifier carries a system and a value (US Core Patient/Practitioner/Organization: identifier.system 1..1, identifier.value 1..1). */
const IDENTIFIER_SYSTEM_VALUE: readonly UsCoreRule[] = [
  { key: 'identifier-system', on: 'identifier', check: 'system.exists()', at: 'system', code: 'required', human: 'identifier.system is required' },
  { key: 'identifier-value', on: 'identifier', check: 'value.exists()', at: 'value', code: 'required', human: 'identifier.value is required' },
];

/** `category` holds a coding of `system|code` (a required slice with a fixed pattern). */
function categorySlice(key: string, system: string, codes: readonly string[], human: string): UsCoreRule {
  const inCodes = codes.map((c) => `code = '${c}'`).join(' or ');
  return { key, check: `category.coding.where(system = '${system}' and (${inCodes})).exists()`, at: 'category', code: 'required', human };
}

/** `code` carries one of these LOINC codes (vital signs profiles: Observation.code pattern). */
function loincCode(key: string, codes: readonly string[], human: string): UsCoreRule {
  const inCodes = codes.map((c) => `code = '${c}'`).join(' or ');
  return { key, check: `code.coding.where(system = ${LOINC} and (${inCodes})).exists()`, at: 'code', code: 'code-invalid', human };
}

/** A valueQuantity, when present, is UCUM with one of these codes (vital signs: valueQuantity.code fixed/required). */
function ucumUnit(key: string, units: readonly string[]): UsCoreRule {
  const inUnits = units.map((u) => `value.code = '${u}'`).join(' or ');
  return { key, check: `(value is Quantity).not() or (value.system = ${UCUM} and (${inUnits}))`, at: 'valueQuantity', code: 'code-invalid', human: `valueQuantity must be UCUM ${units.join(' or ')}` };
}

const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

const VITAL_SIGNS = `${US_CORE}us-core-vital-signs`;

/** A vital sign profile: the vital signs rules plus its LOINC code and units. */
function vital(id: string, name: string, codes: readonly string[], units: readonly string[] | undefined, extra: readonly UsCoreRule[] = []): UsCoreProfile {
  return {
    url: `${US_CORE}${id}`,
    name,
    resourceType: 'Observation',
    page: `StructureDefinition-${id}.html`,
    parent: VITAL_SIGNS,
    rules: [loincCode(`${id}-code`, codes, `code must be LOINC ${codes.join(' or ')}`), ...(units === undefined ? [] : [ucumUnit(`${id}-unit`, units)]), ...extra],
  };
}

/** BP component: present, LOINC-coded, mm[Hg] when valued (us-core-blood-pressure: component:systolic/diastolic 1..1). */
function bpComponent(key: string, loinc: string, human: string): UsCoreRule {
  return {
    key,
    check: `component.where(code.coding.where(system = ${LOINC} and code = '${loinc}').exists()).select((value is Quantity).not() or (value.system = ${UCUM} and value.code = 'mm[Hg]')).allTrue() and component.where(code.coding.where(system = ${LOINC} and code = '${loinc}').exists()).exists()`,
    at: 'component',
    code: 'required',
    human,
  };
}

export const US_CORE_PROFILES: readonly UsCoreProfile[] = [
  {
    url: `${US_CORE}us-core-patient`,
    name: 'US Core Patient',
    resourceType: 'Patient',
    page: 'StructureDefinition-us-core-patient.html',
    rules: [
      // Patient.identifier 1..*, identifier.system 1..1, identifier.value 1..1
      required('identifier'),
      ...IDENTIFIER_SYSTEM_VALUE,
      // Patient.name 1..*; us-core-6: family or given, or a data-absent-reason extension
      required('name'),
      {
        key: 'us-core-6',
        on: 'name',
        check: "(family.exists() or given.exists()) xor extension.where(url = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason').exists()",
        code: 'invariant',
        human: 'us-core-6: a name has a family or given name, or a data-absent-reason extension',
      },
      // Patient.gender 1..1 (required binding AdministrativeGender) up to US Core 7; US Core 8 made
      // it 0..1 (USCDI v4 Sex moved to the us-core-sex extension), and the 9.0.0 examples omit it.
      { ...required('gender'), droppedIn: 8 },
      { key: 'gender-binding', check: "gender.empty() or gender in ('male' | 'female' | 'other' | 'unknown')", at: 'gender', code: 'code-invalid', human: 'gender must be from AdministrativeGender' },
      // Patient.telecom.system 1..1, telecom.value 1..1
      { key: 'telecom-system', on: 'telecom', check: 'system.exists()', at: 'system', code: 'required', human: 'telecom.system is required' },
      { key: 'telecom-value', on: 'telecom', check: 'value.exists()', at: 'value', code: 'required', human: 'telecom.value is required' },
      // Patient.communication.language 1..1
      { key: 'communication-language', on: 'communication', check: 'language.exists()', at: 'language', code: 'required', human: 'communication.language is required' },
    ],
  },
  {
    url: `${US_CORE}us-core-observation-lab`,
    name: 'US Core Laboratory Result Observation',
    resourceType: 'Observation',
    page: 'StructureDefinition-us-core-observation-lab.html',
    rules: [
      // Observation.status 1..1, category:us-core (laboratory) 1..1, code 1..1, subject 1..1
      required('status'),
      categorySlice('category-laboratory', OBS_CATEGORY, ['laboratory'], "category must include observation-category 'laboratory'"),
      required('code'),
      required('subject'),
      // us-core-2 (Observation Clinical Result): a value, a data-absent-reason, a component or a member
      { key: 'us-core-2', check: 'value.exists() or dataAbsentReason.exists() or component.exists() or hasMember.exists()', code: 'invariant', human: 'us-core-2: a result has a value, a dataAbsentReason, components or members' },
    ],
  },
  {
    url: VITAL_SIGNS,
    name: 'US Core Vital Signs',
    resourceType: 'Observation',
    page: 'StructureDefinition-us-core-vital-signs.html',
    rules: [
      // Observation.status 1..1, category:VSCat 1..1, code 1..1, subject 1..1, effective[x] 1..1
      required('status'),
      categorySlice('category-vital-signs', OBS_CATEGORY, ['vital-signs'], "category must include observation-category 'vital-signs'"),
      required('code'),
      required('subject'),
      required('effective'),
      // vs-2: no component or hasMember => a value or a dataAbsentReason
      { key: 'vs-2', check: '(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())', code: 'invariant', human: 'vs-2: without components or members, a value or a dataAbsentReason is present' },
      // vs-1: an effectiveDateTime is at least to the day
      { key: 'vs-1', check: 'effective.ofType(dateTime).all(toString().length() >= 10)', at: 'effective', code: 'invariant', human: 'vs-1: effectiveDateTime is at least to the day' },
    ],
  },
  vital('us-core-blood-pressure', 'US Core Blood Pressure', ['85354-9'], undefined, [
    bpComponent('systolic', '8480-6', 'a systolic component (LOINC 8480-6, mm[Hg]) is required'),
    bpComponent('diastolic', '8462-4', 'a diastolic component (LOINC 8462-4, mm[Hg]) is required'),
  ]),
  vital('us-core-average-blood-pressure', 'US Core Average Blood Pressure', ['96607-7'], undefined, [
    bpComponent('average-systolic', '96608-5', 'an average systolic component (LOINC 96608-5, mm[Hg]) is required'),
    bpComponent('average-diastolic', '96609-3', 'an average diastolic component (LOINC 96609-3, mm[Hg]) is required'),
  ]),
  vital('us-core-bmi', 'US Core BMI', ['39156-5'], ['kg/m2']),
  vital('us-core-body-height', 'US Core Body Height', ['8302-2'], ['cm', '[in_i]']),
  vital('us-core-body-weight', 'US Core Body Weight', ['29463-7'], ['kg', '[lb_av]', 'g']),
  vital('us-core-body-temperature', 'US Core Body Temperature', ['8310-5'], ['Cel', '[degF]']),
  vital('us-core-head-circumference', 'US Core Head Circumference', ['9843-4'], ['cm', '[in_i]']),
  vital('us-core-heart-rate', 'US Core Heart Rate', ['8867-4'], ['/min']),
  vital('us-core-respiratory-rate', 'US Core Respiratory Rate', ['9279-1'], ['/min']),
  // us-core-pulse-oximetry: code.coding:PulseOx (59408-5) and O2Sat (2708-6) both 1..1
  vital('us-core-pulse-oximetry', 'US Core Pulse Oximetry', ['59408-5'], ['%'], [loincCode('us-core-pulse-oximetry-o2sat', ['2708-6'], 'code must also carry LOINC 2708-6')]),
  vital('pediatric-bmi-for-age', 'US Core Pediatric BMI for Age', ['59576-9'], ['%']),
  vital('pediatric-weight-for-height', 'US Core Pediatric Weight for Height', ['77606-2'], ['%']),
  vital('head-occipital-frontal-circumference-percentile', 'US Core Pediatric Head Occipital-frontal Circumference Percentile', ['8289-1'], ['%']),
  {
    url: `${US_CORE}us-core-encounter`,
    name: 'US Core Encounter',
    resourceType: 'Encounter',
    page: 'StructureDefinition-us-core-encounter.html',
    rules: [
      // Encounter.identifier.system/value 1..1, status 1..1, class 1..1, type 1..*, subject 1..1
      ...IDENTIFIER_SYSTEM_VALUE,
      required('status'),
      required('class'),
      required('type'),
      required('subject'),
    ],
  },
  {
    url: `${US_CORE}us-core-condition-encounter-diagnosis`,
    name: 'US Core Condition Encounter Diagnosis',
    resourceType: 'Condition',
    page: 'StructureDefinition-us-core-condition-encounter-diagnosis.html',
    rules: [
      // Condition.category:us-core 1..1 = encounter-diagnosis, code 1..1, subject 1..1
      categorySlice('category-encounter-diagnosis', 'http://terminology.hl7.org/CodeSystem/condition-category', ['encounter-diagnosis'], "category must include condition-category 'encounter-diagnosis'"),
      required('code'),
      required('subject'),
    ],
  },
  {
    url: `${US_CORE}us-core-condition-problems-health-concerns`,
    name: 'US Core Condition Problems and Health Concerns',
    resourceType: 'Condition',
    page: 'StructureDefinition-us-core-condition-problems-health-concerns.html',
    rules: [
      // Condition.category:us-core 1..* (problem-list-item | health-concern), code 1..1, subject 1..1
      {
        key: 'category-problem-or-concern',
        check: "category.coding.where((system = 'http://terminology.hl7.org/CodeSystem/condition-category' and code = 'problem-list-item') or (system = 'http://hl7.org/fhir/us/core/CodeSystem/condition-category' and code = 'health-concern')).exists()",
        at: 'category',
        code: 'required',
        human: "category must include 'problem-list-item' or 'health-concern'",
      },
      required('code'),
      required('subject'),
    ],
  },
  {
    url: `${US_CORE}us-core-allergyintolerance`,
    name: 'US Core AllergyIntolerance',
    resourceType: 'AllergyIntolerance',
    page: 'StructureDefinition-us-core-allergyintolerance.html',
    // AllergyIntolerance.code 1..1, patient 1..1
    rules: [required('code'), required('patient')],
  },
  {
    url: `${US_CORE}us-core-diagnosticreport-lab`,
    name: 'US Core DiagnosticReport for Laboratory Results Reporting',
    resourceType: 'DiagnosticReport',
    page: 'StructureDefinition-us-core-diagnosticreport-lab.html',
    rules: [
      // DiagnosticReport.status 1..1, category:LaboratorySlice 1..1 (v2-0074 LAB), code 1..1, subject 1..1
      required('status'),
      categorySlice('category-lab', 'http://terminology.hl7.org/CodeSystem/v2-0074', ['LAB'], "category must include v2-0074 'LAB'"),
      required('code'),
      required('subject'),
    ],
  },
  {
    url: `${US_CORE}us-core-diagnosticreport-note`,
    name: 'US Core DiagnosticReport for Report and Note Exchange',
    resourceType: 'DiagnosticReport',
    page: 'StructureDefinition-us-core-diagnosticreport-note.html',
    // DiagnosticReport.status 1..1, category 1..*, code 1..1, subject 1..1
    rules: [required('status'), required('category'), required('code'), required('subject')],
  },
  {
    url: `${US_CORE}us-core-documentreference`,
    name: 'US Core DocumentReference',
    resourceType: 'DocumentReference',
    page: 'StructureDefinition-us-core-documentreference.html',
    rules: [
      // DocumentReference.identifier.system/value, status 1..1, type 1..1, category 1..*, subject 1..1,
      // content 1..*, content.attachment 1..1 with us-core-6: url or data
      ...IDENTIFIER_SYSTEM_VALUE,
      required('status'),
      required('type'),
      required('category'),
      required('subject'),
      required('content'),
      { key: 'us-core-6', on: 'content', check: 'attachment.url.exists() or attachment.data.exists()', at: 'attachment', code: 'invariant', human: 'us-core-6: content.attachment has a url or data' },
    ],
  },
  {
    url: `${US_CORE}us-core-adi-documentreference`,
    name: 'US Core ADI DocumentReference',
    resourceType: 'DocumentReference',
    page: 'StructureDefinition-us-core-adi-documentreference.html',
    parent: `${US_CORE}us-core-documentreference`,
    rules: [],
  },
  {
    url: `${US_CORE}us-core-immunization`,
    name: 'US Core Immunization',
    resourceType: 'Immunization',
    page: 'StructureDefinition-us-core-immunization.html',
    rules: [
      // Immunization.status 1..1, vaccineCode 1..1, patient 1..1, occurrence[x] 1..1, primarySource 1..1
      required('status'),
      required('vaccineCode'),
      required('patient'),
      required('occurrence'),
      required('primarySource'),
    ],
  },
  {
    url: `${US_CORE}us-core-procedure`,
    name: 'US Core Procedure',
    resourceType: 'Procedure',
    page: 'StructureDefinition-us-core-procedure.html',
    rules: [
      // Procedure.status 1..1, code 1..1, subject 1..1; us-core-7: performed if completed
      required('status'),
      required('code'),
      required('subject'),
      { key: 'us-core-7', check: "status = 'completed' implies performed.exists()", at: 'performed', code: 'invariant', human: 'us-core-7: a completed procedure has performed[x]' },
    ],
  },
  {
    url: `${US_CORE}us-core-practitioner`,
    name: 'US Core Practitioner',
    resourceType: 'Practitioner',
    page: 'StructureDefinition-us-core-practitioner.html',
    // Practitioner.identifier 1..* (system, value 1..1), name 1..*
    rules: [required('identifier'), ...IDENTIFIER_SYSTEM_VALUE, required('name')],
  },
  {
    url: `${US_CORE}us-core-organization`,
    name: 'US Core Organization',
    resourceType: 'Organization',
    page: 'StructureDefinition-us-core-organization.html',
    // Organization.identifier.system/value 1..1, name 1..1
    rules: [...IDENTIFIER_SYSTEM_VALUE, required('name')],
  },
  {
    url: `${US_CORE}us-core-servicerequest`,
    name: 'US Core ServiceRequest',
    resourceType: 'ServiceRequest',
    page: 'StructureDefinition-us-core-servicerequest.html',
    // ServiceRequest.status 1..1, intent 1..1, code 1..1, subject 1..1
    rules: [required('status'), required('intent'), required('code'), required('subject')],
  },
];
