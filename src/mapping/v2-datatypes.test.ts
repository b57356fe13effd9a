import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupMessage, parseMessage } from '../hl7v2/index.ts';
import { knownSystemUri, systemNameFor, v2TableUri } from './code-systems.ts';
import { MappingContext } from './mapping-context.ts';
import { parseTenantConfig } from './tenant-config.ts';
import { cweToCodeableConcept, cxToIdentifier, looksLikeUcum, nmToQuantity, snToValue, xadToAddress, xpnToHumanName, xtnToContactPoint } from './v2-datatypes.ts';
import { locationFromPl, practitionerFromXcn } from './v2-resources.ts';

const m = parseMessage('MSH|^~\\&|APP|FAC|||20240101120000+0000||ORU^R01|C1|P|2.5.1');
const context = (tenant?: object): MappingContext => new MappingContext(m, groupMessage(m), tenant === undefined ? {} : { tenant: parseTenantConfig({ tenant: 't', ...tenant }, 't.yaml', '.') });
/** Reads one field of a one-segment message as a datatype. */
const field = <K extends 'CX' | 'XPN' | 'XAD' | 'XTN' | 'CWE' | 'SN' | 'XCN'>(value: string, type: K) => parseMessage(`MSH|^~\\&|||||20240101||ADT^A01|1|P|2.5.1\rZZZ|${value}`).read('ZZZ-1', type);

describe('CX -> Identifier', () => {
  it('maps value, system from an ISO assigning authority, type and assigner', () => {
    const id = cxToIdentifier(context(), field('123^^^HOSP&1.2.3&ISO^MR', 'CX'));
    assert.deepEqual(id, { value: '123', system: 'urn:oid:1.2.3', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, assigner: { display: 'HOSP' } });
  });
  it('uses the tenant system for a namespace, else a local URI', () => {
    assert.equal(cxToIdentifier(context({ identifierSystems: { HOSP: 'https://hosp.example/mrn' } }), field('9^^^HOSP^MR', 'CX'))?.system, 'https://hosp.example/mrn');
    assert.equal(cxToIdentifier(context(), field('9^^^HOSP^MR', 'CX'))?.system, 'urn:switchboard:local:id:HOSP');
    assert.equal(cxToIdentifier(context(), field('^^^HOSP', 'CX')), undefined);
  });
});

describe('names, addresses, telecom', () => {
  it('XPN -> HumanName with middle names as given and the name type as use', () => {
    assert.deepEqual(xpnToHumanName(field('Everywoman^Eve^Ann Marie^Jr^Dr^PhD^L', 'XPN')), { family: 'Everywoman', given: ['Eve', 'Ann', 'Marie'], prefix: ['Dr'], suffix: ['Jr', 'PhD'], use: 'official' });
    assert.equal(xpnToHumanName(field('Smith^^^^^^M', 'XPN'))?.use, 'maiden');
  });
  it('XAD -> Address with use/type from table 0190', () => {
    assert.deepEqual(xadToAddress(field('1 Main St^Apt 2^Ann Arbor^MI^48104^USA^H^^Washtenaw', 'XAD')), { line: ['1 Main St', 'Apt 2'], city: 'Ann Arbor', state: 'MI', postalCode: '48104', country: 'USA', district: 'Washtenaw', use: 'home' });
    assert.equal(xadToAddress(field('PO Box 1^^X^^^^M', 'XAD'))?.type, 'postal');
  });
  it('XTN -> ContactPoint: structured numbers, email, use and equipment', () => {
    assert.deepEqual(xtnToContactPoint(field('^PRN^PH^^1^555^5558473', 'XTN')), { value: '+1 (555) 5558473', system: 'phone', use: 'home' });
    assert.deepEqual(xtnToContactPoint(field('^NET^Internet^eve@example.org', 'XTN')), { value: 'eve@example.org', system: 'email' });
    assert.equal(xtnToContactPoint(field('(555)555-1234^WPN^FX', 'XTN'))?.system, 'fax');
  });
});

describe('CWE -> CodeableConcept', () => {
  it('maps known systems to FHIR URIs, the alternate coding and original text', () => {
    const cc = cweToCodeableConcept(context(), field('8302-2^Body height^LN^BH^Height^99LOCAL^^^Body height (measured)', 'CWE'), { field: 'OBX-3' });
    assert.deepEqual(cc?.coding?.[0], { code: '8302-2', system: 'http://loinc.org', display: 'Body height' });
    assert.equal(cc?.coding?.[1]?.system, 'urn:switchboard:local:cs:99LOCAL');
    assert.equal(cc?.text, 'Body height (measured)');
  });
  it('a tenant code map adds the target coding and keeps the sent one', () => {
    const ctx = context({ codeMaps: [{ name: 'lab', fields: ['OBX-3'], entries: [{ sourceSystem: '99LAB', sourceCode: 'GLU', targetSystem: 'http://loinc.org', targetCode: '2345-7', targetDisplay: 'Glucose' }] }] });
    const cc = cweToCodeableConcept(ctx, field('GLU^Glucose^99LAB', 'CWE'), { field: 'OBX-3' });
    assert.deepEqual(cc?.coding?.map((c) => `${c.system}|${c.code}`), ['http://loinc.org|2345-7', 'urn:switchboard:local:cs:99LAB|GLU']);
    // Not for other fields.
    assert.equal(cweToCodeableConcept(ctx, field('GLU^Glucose^99LAB', 'CWE'), { field: 'OBR-4' })?.coding?.length, 1);
  });
  it('a code map with unmapped: error refuses a code it does not hold, naming the field and map, not the code', () => {
    const ctx = context({ codeMaps: [{ name: 'strict', fields: ['OBX-3'], unmapped: 'error', entries: [{ sourceCode: 'A', targetSystem: 's', targetCode: 'b' }] }] });
    assert.throws(() => cweToCodeableConcept(ctx, field('SECRETCODE^x^99LAB', 'CWE'), { field: 'OBX-3' }), (e: Error) => /OBX-3.*strict/.test(e.message) && !e.message.includes('SECRETCODE'));
  });
  it('code system names', () => {
    assert.equal(knownSystemUri('ln'), 'http://loinc.org');
    assert.equal(knownSystemUri('HL70078'), v2TableUri('0078'));
    assert.equal(knownSystemUri('2.16.840.1.113883.6.1'), 'urn:oid:2.16.840.1.113883.6.1');
    assert.equal(knownSystemUri('99ZZZ'), undefined);
    assert.equal(systemNameFor('http://snomed.info/sct'), 'SCT');
    assert.equal(systemNameFor(v2TableUri('0203')), 'HL70203');
  });
});

describe('quantities', () => {
  it('NM + UCUM units -> Quantity; units without a system are taken as UCUM only if they look like UCUM', () => {
    assert.deepEqual(nmToQuantity(context(), 190, field('cm^centimeter^UCUM', 'CWE'), 'OBX-6'), { value: 190, unit: 'centimeter', system: 'http://unitsofmeasure.org', code: 'cm' });
    assert.deepEqual(nmToQuantity(context(), 5.4, field('mmol/L', 'CWE'), 'OBX-6'), { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' });
    const ctx = context();
    assert.deepEqual(nmToQuantity(ctx, 3, field('per high power field!', 'CWE'), 'OBX-6'), { value: 3, unit: 'per high power field!' });
    assert.equal(ctx.warnings.length, 1);
    assert.ok(looksLikeUcum('10*3/uL') && looksLikeUcum('%') && looksLikeUcum('[IU]/L') && !looksLikeUcum('cells per field'));
  });
  it('SN -> comparator Quantity, Range, Ratio', () => {
    assert.deepEqual(snToValue(context(), field('>^100', 'SN')!, undefined, 'OBX-5'), { valueQuantity: { value: 100, comparator: '>' } });
    assert.deepEqual(snToValue(context(), field('^1^-^5', 'SN')!, field('mg', 'CWE'), 'OBX-5'), { valueRange: { low: { value: 1, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' }, high: { value: 5, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } } });
    assert.deepEqual(snToValue(context(), field('^1^:^128', 'SN')!, undefined, 'OBX-5'), { valueRatio: { numerator: { value: 1 }, denominator: { value: 128 } } });
  });
});

describe('resources from datatypes', () => {
  it('XCN -> one Practitioner per identifier, PL -> a Location hierarchy', () => {
    const ctx = context();
    const a = practitionerFromXcn(ctx, field('1234^Doctor^Emory^^^Dr^^^NPI&2.16.840.1.113883.4.6&ISO', 'XCN'));
    const b = practitionerFromXcn(ctx, field('1234^Doctor^Emory', 'XCN'));
    assert.equal(a?.display, 'Emory Doctor');
    assert.notEqual(a?.reference, undefined);
    // Same id number but a different (absent) authority: a different practitioner identity.
    assert.notEqual(a?.reference, b?.reference);
    const again = practitionerFromXcn(ctx, field('1234^Doctor^Emory^^^Dr^^^NPI&2.16.840.1.113883.4.6&ISO', 'XCN'));
    assert.equal(again?.reference, a?.reference);
    const loc = locationFromPl(ctx, '4E^401^B^MAIN', m.encoding);
    const bed = ctx.get<{ resourceType: 'Location'; id: string; name?: string; partOf?: { reference?: string } }>(loc);
    assert.equal(bed?.name, 'B');
    const room = ctx.get<{ resourceType: 'Location'; id: string; name?: string; partOf?: { reference?: string } }>(bed?.partOf);
    assert.equal(room?.name, '401');
    assert.equal(ctx.resources().filter((r) => r.resourceType === 'Location').length, 4);
  });
});
