import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, Immunization, Observation, Organization, Resource } from '@medplum/fhirtypes';
import { parseMessage } from '../../hl7v2/index.ts';
import { convertV2ToFhir } from '../v2-to-fhir.ts';

const now = (): Date => new Date('2024-01-01T00:00:00Z');
const MSH = 'MSH|^~\\&|EHR|CLINIC|IIS|STATE|20240301090000-0500||VXU^V04^VXU_V04|C1|P|2.5.1';
const PID = 'PID|1||MRN1^^^HOSP^MR||Doe^Jane||20200101|F';
const ORC = (filler: string): string => `ORC|RE||${filler}^EHR|||||||||D5^Orderly^Oscar`;
/** RXA with the given completion status (RXA-20), refusal reason (RXA-18) and action code (RXA-21). */
const RXA = (o: { status?: string; refusal?: string; action?: string; code?: string }): string =>
  `RXA|0|1|20240301083000-0500||${o.code ?? '08^Hep B, adolescent or pediatric^CVX'}|0.5|mL^mL^UCUM||00^New record^NIP001|N1^Nurse^Nora|^^^CLINIC||||LOT42|20250101|MSD^Merck^MVX|${o.refusal ?? ''}||${o.status ?? 'CP'}|${o.action ?? 'A'}`;
const RXR = 'RXR|C28161^Intramuscular^NCIT|LT^Left thigh^HL70163';
const OBXS = [
  'OBX|1|CE|64994-7^Vaccine funding program eligibility^LN|1|V02^VFC eligible - Medicaid^HL70064||||||F',
  'OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC50^Public^CDCPHINVS||||||F',
  'OBX|3|CE|69764-9^Document type^LN|3|253088698300012711120420^Hep B VIS^cdcgs1vis||||||F',
  'OBX|4|DT|29769-7^Date VIS presented^LN|3|20240301||||||F',
];

const convert = (lines: readonly string[]): { bundle: Bundle; report: ReturnType<typeof convertV2ToFhir>['report'] } => convertV2ToFhir(parseMessage(lines.join('\r')), { now });
const all = <T extends Resource>(b: Bundle, type: T['resourceType']): T[] => (b.entry ?? []).map((e) => e.resource as Resource).filter((r): r is T => r.resourceType === type);
const immOf = (b: Bundle): Immunization => {
  const i = all<Immunization>(b, 'Immunization');
  assert.equal(i.length, 1);
  return i[0] as Immunization;
};

describe('VXU -> Immunization status (RXA-20, RXA-21)', () => {
  it('CP is completed', () => {
    assert.equal(immOf(convert([MSH, PID, ORC('F1'), RXA({})]).bundle).status, 'completed');
  });
  it('RE (refused) is not-done with the refusal reason (RXA-18) as statusReason', () => {
    const imm = immOf(convert([MSH, PID, ORC('F1'), RXA({ status: 'RE', refusal: '00^Parental decision^NIP002' })]).bundle);
    assert.equal(imm.status, 'not-done');
    assert.equal(imm.statusReason?.coding?.[0]?.code, '00');
  });
  it('NA is not-done; PA is completed and subpotent', () => {
    assert.equal(immOf(convert([MSH, PID, ORC('F1'), RXA({ status: 'NA' })]).bundle).status, 'not-done');
    const pa = immOf(convert([MSH, PID, ORC('F1'), RXA({ status: 'PA' })]).bundle);
    assert.equal(pa.status, 'completed');
    assert.equal(pa.isSubpotent, true);
  });
  it('action code D (delete) is entered-in-error', () => {
    assert.equal(immOf(convert([MSH, PID, ORC('F1'), RXA({ action: 'D' })]).bundle).status, 'entered-in-error');
  });
});

describe('VXU -> Immunization content', () => {
  const r = convert([MSH, PID, ORC('F1'), RXA({}), RXR, ...OBXS]);
  const imm = immOf(r.bundle);
  it('codes the vaccine with the CVX system', () => {
    assert.deepEqual(imm.vaccineCode.coding?.[0], { code: '08', system: 'http://hl7.org/fhir/sid/cvx', display: 'Hep B, adolescent or pediatric' });
  });
  it('a vaccine code sent without a system is taken as CVX', () => {
    const i = immOf(convert([MSH, PID, ORC('F1'), RXA({ code: '20^DTaP' })]).bundle);
    assert.equal(i.vaccineCode.coding?.[0]?.system, 'http://hl7.org/fhir/sid/cvx');
  });
  it('maps time, dose, lot, expiry, manufacturer (MVX), route, site, performers, primary source', () => {
    assert.equal(imm.occurrenceDateTime, '2024-03-01T08:30:00-05:00');
    assert.equal(imm.doseQuantity?.value, 0.5);
    assert.equal(imm.doseQuantity?.code, 'mL');
    assert.equal(imm.lotNumber, 'LOT42');
    assert.equal(imm.expirationDate, '2025-01-01');
    const mfr = all<Organization>(r.bundle, 'Organization').find((o) => `Organization/${o.id}` === imm.manufacturer?.reference);
    assert.deepEqual(mfr?.identifier?.[0], { system: 'http://hl7.org/fhir/sid/mvx', value: 'MSD' });
    assert.equal(imm.route?.coding?.[0]?.code, 'C28161');
    assert.equal(imm.site?.coding?.[0]?.code, 'LT');
    assert.deepEqual(imm.performer?.map((p) => p.function?.coding?.[0]?.code), ['OP', 'AP']);
    assert.equal(imm.primarySource, true);
    assert.equal(imm.identifier?.find((i) => i.type?.coding?.[0]?.code === 'FILL')?.value, 'F1');
    assert.match(imm.location?.reference ?? '', /^Location\//);
  });
  it('order OBX become Observations partOf the Immunization, and fill its CDC elements', () => {
    const obs = all<Observation>(r.bundle, 'Observation');
    assert.equal(obs.length, 4);
    for (const o of obs) assert.equal(o.partOf?.[0]?.reference, `Immunization/${imm.id}`);
    assert.equal(imm.programEligibility?.[0]?.coding?.[0]?.code, 'V02');
    assert.equal(imm.fundingSource?.coding?.[0]?.code, 'VXC50');
    assert.equal(imm.education?.length, 1);
    assert.equal(imm.education?.[0]?.documentType, 'Hep B VIS');
    assert.equal(imm.education?.[0]?.presentationDate, '2024-03-01');
  });
  it('the id comes from the filler order number; repeated numbers are told apart by the dose', () => {
    assert.equal(immOf(convert([MSH, PID, ORC('F1'), RXA({ status: 'RE' })]).bundle).id, imm.id);
    const two = convert([MSH, PID, ORC('F1'), RXA({}), ORC('F1'), RXA({ code: '20^DTaP^CVX' })]);
    const ids = all<Immunization>(two.bundle, 'Immunization').map((i) => i.id);
    assert.equal(new Set(ids).size, 2);
  });
  it('a historical record (RXA-9 01) is not from the primary source and keeps its origin', () => {
    const h = immOf(convert([MSH, PID, ORC('F1'), RXA({}).replace('00^New record^NIP001', '01^Historical^NIP001')]).bundle);
    assert.equal(h.primarySource, false);
    assert.equal(h.reportOrigin?.coding?.[0]?.code, '01');
  });
  it('reports no RXA, RXR or ORC field unmapped without a reason', () => {
    const unmapped = r.report.segments.filter((s) => ['RXA', 'RXR', 'ORC'].includes(s.segment)).flatMap((s) => s.fields.filter((f) => f.status === 'unmapped'));
    assert.deepEqual(unmapped, []);
  });
});
