import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, DocumentReference, Observation, Resource } from '@medplum/fhirtypes';
import { parseMessage } from '../../hl7v2/index.ts';
import { convertV2ToFhir } from '../v2-to-fhir.ts';

const now = (): Date => new Date('2024-01-01T00:00:00Z');
const MSH = (event: string): string => `MSH|^~\\&|TRANS|HOSP|EHR|HOSP|20240301090000+0100||MDM^${event}^MDM_T02|C-${event}|P|2.5.1`;
const HEAD = ['EVN||20240301090000+0100', 'PID|1||MRN1^^^HOSP^MR||Doe^Jane||19800101|F', 'PV1|1|O|CLINIC^1^1||||D1^Attend^Amy|||||||||||||V100^^^HOSP^VN'];
/** TXA with: type, presentation, activity, author, origination, authenticator, unique number, parent, completion, availability. */
const TXA = (o: { completion: string; availability?: string; parent?: string; number?: string }): string =>
  `TXA|1|DS^Discharge summary^HL70270|TX|20240301083000+0100|D1^Attend^Amy|20240301084500+0100|||D2^Origin^Olga|D3^Auth^Al||${o.number ?? 'DOC-1^HOSP'}|${o.parent ?? ''}|ORD-1^HOSP||note.rtf|${o.completion}|R|${o.availability ?? 'AV'}||||||Discharge summary`;
const LINES = ['OBX|1|TX|DOC^Document^L|1|First line||||||F', 'OBX|2|FT|DOC^Document^L|1|Second\\.br\\third||||||F'];

const convert = (lines: readonly string[]): { bundle: Bundle; report: ReturnType<typeof convertV2ToFhir>['report'] } => convertV2ToFhir(parseMessage(lines.join('\r')), { now });
const all = <T extends Resource>(b: Bundle, type: T['resourceType']): T[] => (b.entry ?? []).map((e) => e.resource as Resource).filter((r): r is T => r.resourceType === type);
const docOf = (b: Bundle): DocumentReference => {
  const d = all<DocumentReference>(b, 'DocumentReference');
  assert.equal(d.length, 1);
  return d[0] as DocumentReference;
};
const text = (d: DocumentReference, i: number): string => Buffer.from(d.content[i]?.attachment.data ?? '', 'base64').toString('utf8');

describe('MDM -> DocumentReference docStatus (TXA-17)', () => {
  for (const draft of ['IP', 'DI', 'DO', 'IN', 'PA']) {
    it(`a draft (${draft}) is never final`, () => {
      for (const event of ['T02', 'T08', 'T10']) {
        const d = docOf(convert([MSH(event), ...HEAD, TXA({ completion: draft }), ...LINES]).bundle);
        assert.equal(d.docStatus, 'preliminary', `${event} ${draft}`);
      }
    });
  }
  it('authenticated and legally authenticated documents are final; an edit of one is amended', () => {
    assert.equal(docOf(convert([MSH('T02'), ...HEAD, TXA({ completion: 'AU' }), ...LINES]).bundle).docStatus, 'final');
    assert.equal(docOf(convert([MSH('T04'), ...HEAD, TXA({ completion: 'LA' }), ...LINES]).bundle).docStatus, 'final');
    assert.equal(docOf(convert([MSH('T08'), ...HEAD, TXA({ completion: 'AU' }), ...LINES]).bundle).docStatus, 'amended');
  });
  it('an unknown completion code leaves docStatus out, with a warning', () => {
    const r = convert([MSH('T02'), ...HEAD, TXA({ completion: 'ZZ' }), ...LINES]);
    assert.equal(docOf(r.bundle).docStatus, undefined);
    assert.ok(r.report.warnings.some((w) => w.startsWith('TXA-17')));
  });
});

describe('MDM -> DocumentReference status, identity and relations', () => {
  it('TXA-19 availability: AV current, CA entered-in-error, OB superseded', () => {
    assert.equal(docOf(convert([MSH('T02'), ...HEAD, TXA({ completion: 'AU', availability: 'AV' }), ...LINES]).bundle).status, 'current');
    assert.equal(docOf(convert([MSH('T02'), ...HEAD, TXA({ completion: 'AU', availability: 'CA' }), ...LINES]).bundle).status, 'entered-in-error');
    assert.equal(docOf(convert([MSH('T02'), ...HEAD, TXA({ completion: 'AU', availability: 'OB' }), ...LINES]).bundle).status, 'superseded');
  });
  it('a T11 cancel makes the document entered-in-error', () => {
    assert.equal(docOf(convert([MSH('T11'), ...HEAD, TXA({ completion: 'AU' })]).bundle).status, 'entered-in-error');
  });
  it('the id comes from TXA-12: the original and its edit update one resource', () => {
    const a = docOf(convert([MSH('T02'), ...HEAD, TXA({ completion: 'IP' }), ...LINES]).bundle);
    const b = docOf(convert([MSH('T08'), ...HEAD, TXA({ completion: 'AU' }), ...LINES]).bundle);
    assert.equal(a.id, b.id);
    assert.equal(a.masterIdentifier?.value, 'DOC-1');
  });
  it('a T10 replacement relatesTo the parent document (TXA-13) by the parent\'s own id', () => {
    const parent = docOf(convert([MSH('T02'), ...HEAD, TXA({ completion: 'AU', number: 'DOC-0^HOSP' }), ...LINES]).bundle);
    const d = docOf(convert([MSH('T10'), ...HEAD, TXA({ completion: 'AU', number: 'DOC-2^HOSP', parent: 'DOC-0^HOSP' }), ...LINES]).bundle);
    assert.equal(d.relatesTo?.length, 1);
    assert.equal(d.relatesTo?.[0]?.code, 'replaces');
    assert.equal(d.relatesTo?.[0]?.target.reference, `DocumentReference/${parent.id}`);
    assert.equal(d.relatesTo?.[0]?.target.identifier?.value, 'DOC-0');
    assert.notEqual(d.id, parent.id);
  });
  it('an addendum (T06) appends to its parent', () => {
    const d = docOf(convert([MSH('T06'), ...HEAD, TXA({ completion: 'AU', number: 'DOC-3^HOSP', parent: 'DOC-0^HOSP' }), ...LINES]).bundle);
    assert.equal(d.relatesTo?.[0]?.code, 'appends');
  });
});

describe('MDM -> DocumentReference content and people', () => {
  const r = convert([
    MSH('T02'),
    ...HEAD,
    TXA({ completion: 'AU' }),
    ...LINES,
    'OBX|3|ED|PDF^Scanned^L||^AP^PDF^Base64^JVBERi0xLjQK||||||F',
    'OBX|4|NM|8867-4^Heart rate^LN||72|/min^per minute^UCUM|||||F',
  ]);
  const d = docOf(r.bundle);
  it('joins TX/FT lines into one text/plain attachment and keeps ED as its own', () => {
    assert.equal(d.content.length, 2);
    assert.equal(d.content[0]?.attachment.contentType, 'text/plain');
    assert.equal(text(d, 0), 'First line\nSecond\nthird');
    assert.equal(d.content[1]?.attachment.contentType, 'application/pdf');
    assert.equal(d.content[1]?.attachment.data, 'JVBERi0xLjQK');
    assert.equal(d.content[0]?.attachment.creation, '2024-03-01T08:45:00+01:00');
  });
  it('an OBX that is not document text becomes an Observation the document relates to', () => {
    const obs = all<Observation>(r.bundle, 'Observation');
    assert.equal(obs.length, 1);
    assert.ok(d.context?.related?.some((x) => x.reference === `Observation/${obs[0]?.id}`));
    assert.ok(d.context?.related?.some((x) => x.type === 'ServiceRequest' && x.identifier?.value === 'ORD-1'));
  });
  it('maps type, dates, authors, authenticator, subject, encounter, security label, title', () => {
    assert.equal(d.type?.coding?.[0]?.code, 'DS');
    assert.equal(d.date, '2024-03-01T08:45:00+01:00');
    assert.equal(d.context?.period?.start, '2024-03-01T08:30:00+01:00');
    assert.equal(d.author?.length, 2);
    assert.match(d.authenticator?.reference ?? '', /^Practitioner\//);
    assert.match(d.subject?.reference ?? '', /^Patient\//);
    assert.match(d.context?.encounter?.[0]?.reference ?? '', /^Encounter\//);
    assert.equal(d.securityLabel?.[0]?.coding?.[0]?.code, 'R');
    assert.equal(d.description, 'Discharge summary');
    assert.equal(d.identifier?.[0]?.value, 'note.rtf');
  });
  it('reports no TXA field unmapped without a reason', () => {
    const txa = r.report.segments.find((s) => s.segment === 'TXA');
    assert.deepEqual(txa?.fields.filter((f) => f.status === 'unmapped'), []);
  });
  it('a notification without content (T01) still has one attachment (content is 1..*)', () => {
    const n = docOf(convert([MSH('T01'), ...HEAD, TXA({ completion: 'DI' })]).bundle);
    assert.equal(n.content.length, 1);
    assert.equal(n.content[0]?.attachment.contentType, 'text/plain');
  });
});

describe('MDM -> the order the document answers (COMMON_ORDER)', () => {
  it('ORC/OBR become a ServiceRequest with the lab identity, listed in context.related; nothing in the group is left unmapped', () => {
    const order = ['ORC|RE|PL-9^EHR|FL-9^LAB||CM', 'OBR|1|PL-9^EHR|FL-9^LAB|18748-4^Diagnostic imaging study^LN|||20240301080000+0100'];
    const { bundle, report } = convert([MSH('T02'), ...HEAD, ...order, TXA({ completion: 'AU' }), ...LINES]);
    const requests = all<Resource & { id: string; identifier?: Array<{ value?: string }>; code?: { coding?: Array<{ code?: string }> } }>(bundle, 'ServiceRequest');
    assert.equal(requests.length, 1);
    assert.deepEqual(requests[0]?.identifier?.map((i) => i.value).sort(), ['FL-9', 'PL-9']);
    assert.equal(requests[0]?.code?.coding?.[0]?.code, '18748-4');
    assert.ok(docOf(bundle).context?.related?.some((r) => r.reference === `ServiceRequest/${requests[0]?.id ?? ''}`));
    const orderSegments = report.segments.filter((s) => s.segment === 'ORC' || s.segment === 'OBR');
    assert.equal(orderSegments.length, 2);
    for (const s of orderSegments) assert.notEqual(s.status, 'unmapped', `${s.segment} is mapped`);
    assert.deepEqual(orderSegments.flatMap((s) => s.fields.filter((f) => f.status === 'unmapped').map((f) => f.field)), []);
    // The same order sent by an ORM names the same ServiceRequest.
    const orm = convertV2ToFhir(parseMessage(['MSH|^~\\&|EHR|HOSP|LAB|HOSP|20240301070000+0100||ORM^O01^ORM_O01|O1|P|2.5.1', 'PID|1||MRN1^^^HOSP^MR||Doe^Jane', 'ORC|NW|PL-9^EHR|FL-9^LAB', 'OBR|1|PL-9^EHR|FL-9^LAB|18748-4^Diagnostic imaging study^LN'].join('\r')), { now });
    assert.equal(all<Resource & { id: string }>(orm.bundle, 'ServiceRequest')[0]?.id, requests[0]?.id);
  });
});
