import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, DocumentReference, Patient, Resource } from '@medplum/fhirtypes';
import { parseMessage, validateMessage } from '../../hl7v2/index.ts';
import { convertFhirToV2 } from '../fhir-to-v2.ts';
import { completionStatus } from './mdm-t02.ts';

const now = (): Date => new Date('2024-03-05T12:00:00Z');
const patient: Patient = { resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:switchboard:local:id:HOSP', value: 'MRN1' }], name: [{ family: 'Doe', given: ['Jane'] }] };
const text = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function doc(extra: Partial<DocumentReference>): DocumentReference {
  return {
    resourceType: 'DocumentReference',
    id: 'd1',
    status: 'current',
    masterIdentifier: { system: 'urn:switchboard:local:id:HOSP', value: 'DOC1' },
    type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
    subject: { reference: 'Patient/p1' },
    content: [{ attachment: { contentType: 'text/plain', data: text('Line one\nLine | two') } }],
    ...extra,
  };
}

function mdm(d: DocumentReference, more: Resource[] = []) {
  const b: Bundle = { resourceType: 'Bundle', type: 'collection', entry: [d, patient, ...more].map((resource) => ({ resource })) };
  const r = convertFhirToV2(b, { now, controlId: 'C1' });
  return { ...r, msg: parseMessage(r.message.toString()) };
}

const ALTERNATE = 'http://hl7.org/fhir/StructureDefinition/alternate-codes';
const withAlternate = (code: string): Partial<DocumentReference> =>
  ({ _docStatus: { extension: [{ url: ALTERNATE, valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0271', code }] } }] } }) as Partial<DocumentReference>;

describe('DocumentReference -> MDM^T02: TXA-17 (a draft is never sent as authenticated)', () => {
  it('preliminary or absent docStatus never yields AU or LA, whatever else the document carries', () => {
    const contentTypes = ['text/plain', 'application/pdf', 'audio/wav'];
    const table0271 = ['AU', 'LA', 'DI', 'DO', 'IN', 'IP', 'PA', 'XX'];
    let checked = 0;
    for (const docStatus of [undefined, 'preliminary'] as const) {
      for (const authenticator of [undefined, { display: 'Dr Signer' }]) {
        for (const contentType of contentTypes) {
          for (const kept of [undefined, ...table0271]) {
            const d = doc({ ...(docStatus !== undefined ? { docStatus } : {}), ...(authenticator !== undefined ? { authenticator } : {}), ...(kept !== undefined ? withAlternate(kept) : {}), content: [{ attachment: { contentType, data: text('x') } }] });
            const status = completionStatus(d);
            assert.ok(!['AU', 'LA'].includes(status), `${String(docStatus)} / ${contentType} / ${String(kept)} gave ${status}`);
            // And through the whole conversion: TXA-17 and every OBX-11.
            const { msg } = mdm(d);
            assert.ok(!['AU', 'LA'].includes(msg.get('TXA-17') ?? ''));
            assert.ok(msg.getAll('OBX-11').every((s) => s === 'P'));
            checked++;
          }
        }
      }
    }
    assert.equal(checked, 2 * 2 * 3 * 9);
  });

  it('preliminary is IP; a kept unauthenticated 0271 code is used; audio content is DI (dictated)', () => {
    assert.equal(completionStatus(doc({ docStatus: 'preliminary' })), 'IP');
    assert.equal(completionStatus(doc({})), 'IP');
    assert.equal(completionStatus(doc({ docStatus: 'preliminary', ...withAlternate('DO') })), 'DO');
    assert.equal(completionStatus(doc({ docStatus: 'preliminary', ...withAlternate('AU') })), 'IP');
    assert.equal(completionStatus(doc({ content: [{ attachment: { contentType: 'audio/wav', data: text('x') } }] })), 'DI');
  });

  it('final is AU; LA only when the document kept LA itself (an authenticator is not a legal signature); amended the same with the replaced document in TXA-13', () => {
    assert.equal(completionStatus(doc({ docStatus: 'final' })), 'AU');
    assert.equal(completionStatus(doc({ docStatus: 'final', authenticator: { display: 'Dr Signer' } })), 'AU');
    assert.equal(completionStatus(doc({ docStatus: 'final', ...withAlternate('LA') })), 'LA');
    // A kept LA on a document that is not final never makes it signed.
    assert.equal(completionStatus(doc({ docStatus: 'preliminary', ...withAlternate('LA') })), 'IP');
    const { msg } = mdm(doc({ docStatus: 'amended', relatesTo: [{ code: 'replaces', target: { identifier: { system: 'urn:switchboard:local:id:HOSP', value: 'DOC0' } } }] }));
    assert.equal(msg.get('TXA-17'), 'AU');
    assert.equal(msg.getRaw('TXA-13'), 'DOC0^HOSP');
    assert.equal(msg.get('TXA-19'), 'AV');
  });

  it('refuses a document entered in error (that is a cancel, T11)', () => {
    assert.throws(() => mdm(doc({ docStatus: 'entered-in-error' })), { code: 'SWB_ERR_MAP_FHIR_INPUT' });
  });
});

describe('DocumentReference -> MDM^T02: segments and fields', () => {
  it('EVN, PID, PV1 (class N without an encounter), TXA, OBX TX per line; valid MDM_T02', () => {
    const more: Resource[] = [{ resourceType: 'Practitioner', id: 'au', identifier: [{ value: 'A1' }], name: [{ family: 'Author', given: ['Ann'] }] }];
    const { msg, report } = mdm(doc({ docStatus: 'final', date: '2024-03-05T09:00:00-05:00', author: [{ reference: 'Practitioner/au' }], context: { period: { start: '2024-03-05T08:00:00-05:00' } }, securityLabel: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] }] }), more);
    assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'EVN', 'PID', 'PV1', 'TXA', 'OBX', 'OBX']);
    assert.equal(msg.get('MSH-9'), 'MDM^T02^MDM_T02');
    assert.equal(msg.get('EVN-1'), 'T02');
    assert.equal(msg.get('EVN-2'), '20240305120000+0000');
    assert.equal(msg.get('PV1-2'), 'N');
    assert.equal(msg.getRaw('TXA-2'), '11506-3^Progress note^LN');
    assert.equal(msg.get('TXA-3'), 'TX');
    assert.equal(msg.get('TXA-4'), '20240305080000-0500');
    assert.equal(msg.get('TXA-6'), '20240305090000-0500');
    assert.equal(msg.getRaw('TXA-9'), 'A1^Author^Ann');
    assert.equal(msg.getRaw('TXA-12'), 'DOC1^HOSP');
    assert.equal(msg.get('TXA-17'), 'AU');
    assert.equal(msg.get('TXA-18'), 'R');
    assert.deepEqual(msg.getAll('OBX-2'), ['TX', 'TX']);
    assert.deepEqual(msg.getAll('OBX-5'), ['Line one', 'Line | two']);
    assert.equal(msg.getRaw('OBX[2]-5'), 'Line \\F\\ two');
    assert.deepEqual(msg.getAll('OBX-11'), ['F', 'F']);
    assert.deepEqual(validateMessage(msg).issues.filter((i) => i.severity === 'error').map((i) => i.message), []);
    assert.ok(report.mapped.includes('DocumentReference.docStatus -> TXA-17'));
  });

  it('sends other content as one ED OBX (base64), and a URL as RP', () => {
    const pdf = Buffer.from('%PDF-1.4').toString('base64');
    const { msg } = mdm(doc({ content: [{ attachment: { contentType: 'application/pdf', data: pdf } }, { attachment: { contentType: 'image/png', url: 'https://example.org/x.png' } }] }));
    assert.deepEqual(msg.getAll('OBX-2'), ['ED', 'RP']);
    assert.equal(msg.getRaw('OBX[1]-5'), `^AP^PDF^Base64^${pdf}`);
    assert.equal(msg.getRaw('OBX[2]-5'), 'https://example.org/x.png^^IM^PNG');
    assert.equal(msg.get('TXA-3'), 'AP');
  });

  it('sends a "notes" text attachment (NTE on the lines, as the forward map keeps them) back as NTE', () => {
    const { msg } = mdm(doc({ content: [{ attachment: { contentType: 'text/plain', data: text('body') } }, { attachment: { contentType: 'text/plain', title: 'notes', data: text('first note\nsecond note') } }] }));
    assert.deepEqual(msg.segments.map((s) => s.name).slice(-3), ['OBX', 'NTE', 'NTE']);
    assert.deepEqual(msg.getAll('NTE-3'), ['first note', 'second note']);
  });

  it('uses the encounter for PV1, and the resource id when there is no document number (with a warning)', () => {
    const more: Resource[] = [{ resourceType: 'Encounter', id: 'e1', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, identifier: [{ value: 'V9' }] }];
    const d = doc({ context: { encounter: [{ reference: 'Encounter/e1' }] } });
    delete d.masterIdentifier;
    const { msg, report } = mdm(d, more);
    assert.equal(msg.get('PV1-2'), 'I');
    assert.equal(msg.get('PV1-19'), 'V9');
    assert.equal(msg.get('TXA-12'), 'd1');
    assert.ok(report.warnings.some((w) => w.startsWith('TXA-12')));
  });
});
