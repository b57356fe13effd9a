import { JoinCache } from './flat-strings.ts';

/**
 * HL7 v2 coding system names (table 0396, CWE-3/CWE-6) and the FHIR code system URIs they stand
 * for (FHIR R4 terminologies-systems.html; HL7 V2-to-FHIR IG, code system map "CodingSystem").
 * Names are matched case-insensitively. `HL7nnnn` is an HL7-defined table, `99zzz` a local one.
 */
const BY_NAME: Readonly<Record<string, string>> = {
  LN: 'http://loinc.org',
  LNC: 'http://loinc.org',
  LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNOMED: 'http://snomed.info/sct',
  // SNOMED II / SNOMED International names still sent by older systems (IG code system map).
  SNM: 'http://snomed.info/sct',
  SNM3: 'http://snomed.info/sct',
  SNOMEDCT: 'http://snomed.info/sct',
  'SNOMED-CT': 'http://snomed.info/sct',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  I10C: 'http://hl7.org/fhir/sid/icd-10-cm',
  ICD10CM: 'http://hl7.org/fhir/sid/icd-10-cm',
  'ICD-10-CM': 'http://hl7.org/fhir/sid/icd-10-cm',
  I10P: 'http://www.cms.gov/Medicare/Coding/ICD10',
  I9: 'http://hl7.org/fhir/sid/icd-9-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  I9CDX: 'http://hl7.org/fhir/sid/icd-9-cm',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  MVX: 'http://hl7.org/fhir/sid/mvx',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  RXN: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  UCUM: 'http://unitsofmeasure.org',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  CPT: 'http://www.ama-assn.org/go/cpt',
  C4: 'http://www.ama-assn.org/go/cpt',
  HCPCS: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  HCPT: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  NUCC: 'http://nucc.org/provider-taxonomy',
  NCI: 'http://ncimeta.nci.nih.gov',
  // NCI Thesaurus and the CDC PHIN vocabulary (terminology.hl7.org external code systems).
  NCIT: 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl',
  CDCPHINVS: 'urn:oid:2.16.840.1.114222.4.5.274',
  UMLS: 'http://www.nlm.nih.gov/research/umls',
  ISO3166: 'urn:iso:std:iso:3166',
  'ISO3166-1': 'urn:iso:std:iso:3166',
  ISO639: 'urn:ietf:bcp:47',
  CDCREC: 'urn:oid:2.16.840.1.113883.6.238',
  NPI: 'http://hl7.org/fhir/sid/us-npi',
  DCM: 'http://dicom.nema.org/resources/ontology/DCM',
  FDDX: 'http://www.fdbhealth.com/',
  MEDRT: 'http://va.gov/terminology/medrt',
};

/** The URI of a v2 coding system name, or undefined when it is not a known one. */
export function knownSystemUri(name: string): string | undefined {
  // A pure function of the name, and a feed uses a handful of names: each is resolved once.
  const hit = KNOWN.get(name);
  if (hit !== undefined) return hit === NOT_KNOWN ? undefined : hit;
  const uri = resolveKnownSystemUri(name);
  // Bounded: a hostile feed could send any number of distinct names.
  if (KNOWN.size >= KNOWN_LIMIT) KNOWN.clear();
  KNOWN.set(name, uri ?? NOT_KNOWN);
  return uri;
}

const KNOWN_LIMIT = 1000;
/** Cached "not a known system" (undefined cannot be told from a miss in a Map). */
const NOT_KNOWN = '';
const KNOWN = new Map<string, string>();

function resolveKnownSystemUri(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  const direct = BY_NAME[upper];
  if (direct !== undefined) return direct;
  // HL7nnnn: an HL7 table (FHIR's v2 code systems, terminology.hl7.org/CodeSystem/v2-nnnn).
  const table = /^HL7(\d{4})$/.exec(upper);
  if (table !== null) return v2TableUri(table[1] as string);
  // An OID as the system name (ISO style).
  if (/^\d+(\.\d+)+$/.test(name.trim())) return `urn:oid:${name.trim()}`;
  if (/^(https?|urn):/i.test(name.trim())) return name.trim();
  return undefined;
}

/** FHIR's code system for HL7 v2 table nnnn (terminology.hl7.org). */
export function v2TableUri(table: string): string {
  // A handful of tables recur on every message: one string per table, built once (a new one per
  // call would be a rope the validator has to flatten in every bundle; see flat-strings.ts).
  return TABLE_URIS.get('http://terminology.hl7.org/CodeSystem/v2', table.padStart(4, '0'));
}

/** Bounded as KNOWN: a hostile feed could name any number of tables. */
const TABLE_URIS = new JoinCache('-', { limit: KNOWN_LIMIT });

/** The v2 coding system name for a URI (for FHIR -> v2), or undefined. LN, SCT, I10C... preferred. */
export function systemNameFor(uri: string): string | undefined {
  const preferred: Readonly<Record<string, string>> = {
    'http://loinc.org': 'LN',
    'http://snomed.info/sct': 'SCT',
    'http://hl7.org/fhir/sid/icd-10-cm': 'I10C',
    'http://hl7.org/fhir/sid/icd-10': 'I10',
    'http://hl7.org/fhir/sid/icd-9-cm': 'I9C',
    'http://hl7.org/fhir/sid/cvx': 'CVX',
    'http://www.nlm.nih.gov/research/umls/rxnorm': 'RXNORM',
    'http://unitsofmeasure.org': 'UCUM',
    'http://hl7.org/fhir/sid/ndc': 'NDC',
    'http://www.ama-assn.org/go/cpt': 'CPT',
  };
  const p = preferred[uri];
  if (p !== undefined) return p;
  const table = /^http:\/\/terminology\.hl7\.org\/CodeSystem\/v2-(\d{4})$/.exec(uri);
  if (table !== null) return `HL7${table[1] as string}`;
  return undefined;
}
