import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ENCODING, readCwe, readCx, readXad, readXpn, readXtn } from '../../hl7v2/index.ts';
import { parseTenantConfig } from '../tenant-config.ts';
import { addressToXad, assigningAuthority, codeableConceptToCwe, contactPointToXtn, humanNameToXpn, identifierToCx, identifierToEi, nmText, practitionerXcn, quantityToNm, systemName, toDtm, toTm } from './fhir-datatypes.ts';

const enc = DEFAULT_ENCODING;

describe('toDtm / toTm (dateTime keeps precision and offset)', () => {
  it('keeps the precision given', () => {
    assert.equal(toDtm('2024', 'x'), '2024');
    assert.equal(toDtm('2024-03', 'x'), '202403');
    assert.equal(toDtm('2024-03-05', 'x'), '20240305');
    assert.equal(toDtm('2024-03-05T10:30:00-05:00', 'x'), '20240305103000-0500');
  });
  it('keeps fractions (at most 4 digits) and turns Z into +0000', () => {
    assert.equal(toDtm('2024-03-05T10:30:00.25+01:00', 'x'), '20240305103000.25+0100');
    assert.equal(toDtm('2024-03-05T10:30:00.123456Z', 'x'), '20240305103000.1234+0000');
  });
  it('rejects what is not a FHIR dateTime, naming the element and not the value', () => {
    assert.throws(() => toDtm('05/03/2024', 'Observation.effectiveDateTime'), (e: Error) => e.message.includes('Observation.effectiveDateTime') && !e.message.includes('05/03'));
  });
  it('FHIR time -> TM', () => {
    assert.equal(toTm('10:30:00', 'x'), '103000');
    assert.equal(toTm('10:30:00.5', 'x'), '103000.5');
  });
});

describe('Identifier -> CX / EI (assigning authority reversed from the system)', () => {
  it('urn:oid -> HD universal id with type ISO, the assigner as the namespace', () => {
    assert.equal(identifierToCx(enc, { system: 'urn:oid:1.2.3', value: '42', assigner: { display: 'HOSP' }, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }), '42^^^HOSP&1.2.3&ISO^MR');
    assert.equal(identifierToCx(enc, { system: 'urn:oid:1.2.3', value: '42' }), '42^^^&1.2.3&ISO');
  });
  it('a system under the local base gives back its namespace', () => {
    assert.equal(identifierToCx(enc, { system: 'urn:switchboard:local:id:HOSP', value: '7' }), '7^^^HOSP');
    assert.equal(identifierToCx(enc, { system: 'urn:switchboard:local:id:A%26B', value: '7' }), '7^^^A\\T\\B');
  });
  it('a tenant identifier system gives back its configured key', () => {
    const tenant = parseTenantConfig({ tenant: 't', identifierSystems: { MRN: 'https://example.org/mrn', '2.16.1': 'https://example.org/other' } }, 't.yaml', '.');
    assert.equal(assigningAuthority(enc, 'https://example.org/mrn', undefined, tenant), 'MRN');
    assert.equal(assigningAuthority(enc, 'https://example.org/other', undefined, tenant), '&2.16.1&ISO');
  });
  it('other URIs are sent with type URI; UUIDs with UUID; NPI and SSN by their well-known OIDs', () => {
    assert.equal(assigningAuthority(enc, 'https://example.org/ids', undefined), '&https://example.org/ids&URI');
    assert.equal(assigningAuthority(enc, 'urn:uuid:ab-cd', undefined), '&ab-cd&UUID');
    assert.equal(assigningAuthority(enc, 'http://hl7.org/fhir/sid/us-npi', undefined), 'NPI&2.16.840.1.113883.4.6&ISO');
  });
  it('EI spreads the authority over components; values are escaped', () => {
    assert.equal(identifierToEi(enc, { system: 'urn:oid:1.2.3', value: 'A|1' }), 'A\\F\\1^^1.2.3^ISO');
    assert.equal(identifierToEi(enc, { value: '' }), undefined);
  });
  it('reads back with the hl7v2 CX reader', () => {
    const cx = readCx(identifierToCx(enc, { system: 'urn:oid:1.2.3', value: '42', assigner: { display: 'HOSP' } }) ?? '', enc, 'CX');
    assert.equal(cx.id, '42');
    assert.deepEqual(cx.assigningAuthority, { namespaceId: 'HOSP', universalId: '1.2.3', universalIdType: 'ISO' });
  });
});

describe('HumanName -> XPN, Address -> XAD, ContactPoint -> XTN', () => {
  it('names: family, given, further given names as middle, suffix, prefix, type from use', () => {
    const raw = humanNameToXpn(enc, { family: 'Smith', given: ['John', 'Quincy', 'Adams'], prefix: ['Dr'], suffix: ['Jr', 'MD'], use: 'official' });
    assert.equal(raw, 'Smith^John^Quincy Adams^Jr^Dr^MD^L');
    assert.deepEqual(readXpn(raw ?? '', enc, 'XPN'), { family: 'Smith', given: 'John', middle: 'Quincy Adams', suffix: 'Jr', prefix: 'Dr', degree: 'MD', nameTypeCode: 'L' });
    assert.equal(humanNameToXpn(enc, { family: "O'Brien^x", use: 'usual' }), "O'Brien\\S\\x^^^^^^D");
  });
  it('an XCN carries the id, the name and the assigning authority', () => {
    assert.equal(practitionerXcn(enc, { system: 'http://hl7.org/fhir/sid/us-npi', value: '123' }, { family: 'Who', given: ['Doc'] }), '123^Who^Doc^^^^^^NPI&2.16.840.1.113883.4.6&ISO');
  });
  it('addresses: lines, city, state, zip, country, type from use, district as county', () => {
    const raw = addressToXad(enc, { line: ['1 Main St', 'Apt 2', 'Rear'], city: 'Town', state: 'MA', postalCode: '01234', country: 'USA', use: 'home', district: 'Suffolk' });
    assert.equal(raw, '1 Main St^Apt 2, Rear^Town^MA^01234^USA^H^^Suffolk');
    assert.equal(readXad(raw ?? '', enc, 'XAD').county, 'Suffolk');
    assert.equal(addressToXad(enc, { city: 'X', type: 'postal' }), '^^X^^^^M');
  });
  it('telecom: email to XTN-4, a structured number back to its components, others to XTN-1', () => {
    assert.equal(contactPointToXtn(enc, { system: 'email', value: 'a@b.org', use: 'home' }), '^NET^Internet^a@b.org');
    assert.equal(contactPointToXtn(enc, { system: 'phone', value: '+1 (555) 5551234 ext. 12', use: 'work' }), '^WPN^PH^^1^555^5551234^12');
    assert.equal(contactPointToXtn(enc, { system: 'phone', value: '555-1234', use: 'mobile' }), '555-1234^PRS^CP');
    assert.equal(contactPointToXtn(enc, { system: 'fax', value: '555' }), '555^^FX');
    assert.equal(readXtn('^PRN^PH^^^555^5551234', enc, 'XTN').localNumber, '5551234');
  });
});

describe('CodeableConcept -> CWE (system names reversed)', () => {
  it('names known systems LN, SCT, I10C, I10, UCUM, CVX, RXNORM, HL7nnnn, CDCREC', () => {
    const cases: Array<[string, string]> = [
      ['http://loinc.org', 'LN'],
      ['http://snomed.info/sct', 'SCT'],
      ['http://hl7.org/fhir/sid/icd-10-cm', 'I10C'],
      ['http://hl7.org/fhir/sid/icd-10', 'I10'],
      ['http://unitsofmeasure.org', 'UCUM'],
      ['http://hl7.org/fhir/sid/cvx', 'CVX'],
      ['http://www.nlm.nih.gov/research/umls/rxnorm', 'RXNORM'],
      ['http://terminology.hl7.org/CodeSystem/v2-0078', 'HL70078'],
      ['urn:oid:2.16.840.1.113883.6.238', 'CDCREC'],
      ['urn:oid:1.2.3.4', '1.2.3.4'],
      ['urn:switchboard:local:cs:99LAB', '99LAB'],
    ];
    for (const [uri, name] of cases) assert.equal(systemName(uri), name, uri);
  });
  it('a tenant local code system gives back its name; an unknown URI is sent as it is', () => {
    const tenant = parseTenantConfig({ tenant: 't', codeSystems: { '99ZZ': 'https://example.org/cs' } }, 't.yaml', '.');
    assert.equal(systemName('https://example.org/cs', tenant), '99ZZ');
    assert.equal(systemName('https://example.org/unknown'), 'https://example.org/unknown');
  });
  it('primary and alternate codings, versions, and the text as original text when it differs', () => {
    const raw = codeableConceptToCwe(enc, {
      coding: [
        { system: 'http://loinc.org', code: '2345-7', display: 'Glucose', version: '2.77' },
        { system: 'urn:switchboard:local:cs:99LAB', code: 'GLU', display: 'Glu' },
      ],
      text: 'Glucose, serum',
    });
    assert.equal(raw, '2345-7^Glucose^LN^GLU^Glu^99LAB^2.77^^Glucose, serum');
    assert.deepEqual(readCwe(raw ?? '', enc, 'CWE').originalText, 'Glucose, serum');
    assert.equal(codeableConceptToCwe(enc, { coding: [{ system: 'http://loinc.org', code: '1', display: 'A' }], text: 'A' }), '1^A^LN');
    assert.equal(codeableConceptToCwe(enc, { text: 'free text' }), '^free text');
    assert.equal(codeableConceptToCwe(enc, {}), undefined);
  });
  it('leaves out a tenant code map target the forward map added in front of the sent coding', () => {
    const tenant = parseTenantConfig({ tenant: 't', codeMaps: [{ name: 'lab', entries: [{ sourceSystem: '99LAB', sourceCode: 'GLU', targetSystem: 'http://loinc.org', targetCode: '2345-7' }] }] }, 't.yaml', '.');
    const raw = codeableConceptToCwe(enc, { coding: [{ system: 'http://loinc.org', code: '2345-7' }, { system: 'urn:switchboard:local:cs:99LAB', code: 'GLU' }] }, { tenant });
    assert.equal(raw, 'GLU^^99LAB');
  });
});

describe('Quantity -> NM + CWE units', () => {
  it('UCUM units as code^unit^UCUM', () => {
    assert.deepEqual(quantityToNm(enc, { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' }), { value: '5.4', units: 'mmol/L^mmol/L^UCUM' });
    assert.deepEqual(quantityToNm(enc, { value: 1, unit: 'per HPF' }), { value: '1', units: 'per HPF' });
    assert.equal(quantityToNm(enc, { unit: 'x' }), undefined);
  });
  it('NM never has an exponent', () => {
    assert.equal(nmText(1e-7), '0.0000001');
    assert.equal(nmText(1e21), '1000000000000000000000');
    assert.equal(nmText(-0.5), '-0.5');
  });
});
