import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseMessage } from '../../hl7v2/index.ts';
import { startHl7Simulator, type Hl7Simulator } from '../../sim/hl7/hl7-simulator.ts';
import type { EhrAdapter, EhrWriteOutcome, EhrWriteRequest, FhirResource, ProposedChange } from './ehr-adapter.ts';
import { createEhrAdapter } from './ehr-adapters.ts';
import { controlIdFor } from './hl7v2-mllp-adapter.ts';

/** The HL7 v2 adapter against the real HL7 simulator (src/sim/hl7) over MLLP on 127.0.0.1. */

const patient: FhirResource = { resourceType: 'Patient', id: 'pat-1', identifier: [{ system: 'urn:switchboard:local:id:HOSP', value: 'MRN1' }], name: [{ family: 'Doe', given: ['Jane'] }] };

const note = (docStatus: string): FhirResource => ({
  resourceType: 'DocumentReference',
  status: 'current',
  docStatus,
  masterIdentifier: { system: 'urn:switchboard:local:id:HOSP', value: `DOC-${randomUUID().slice(0, 8)}` },
  type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
  subject: { reference: 'Patient/pat-1' },
  content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('Draft note line').toString('base64') } }],
});

const report = (): FhirResource => ({
  resourceType: 'Bundle',
  type: 'collection',
  entry: [
    {
      resource: {
        resourceType: 'DiagnosticReport',
        id: 'dr1',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '24323-8' }] },
        subject: { reference: 'Patient/pat-1' },
        result: [{ reference: 'Observation/o1' }],
      },
    },
    {
      resource: {
        resourceType: 'Observation',
        id: 'o1',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
        subject: { reference: 'Patient/pat-1' },
        valueQuantity: { value: 5.4, unit: 'mmol/L' },
      },
    },
    { resource: patient },
  ],
});

const er7 = (txa17: string, controlId = ''): string =>
  [
    `MSH|^~\\&|SWB|HOSP|EHR|HOSP|20240305120000||MDM^T02^MDM_T02|${controlId}|P|2.5.1`,
    'EVN|T02|20240305120000',
    'PID|1||MRN1^^^HOSP^MR||Doe^Jane',
    'PV1|1|N',
    `TXA|1|11506-3^Progress note^LN|TX|||20240305120000|||||DOC9^HOSP||||||${txa17}`,
    'OBX|1|TX|11506-3^Progress note^LN||Note text||||||F',
  ].join('\r');

const req = (change: ProposedChange, more: Partial<EhrWriteRequest> = {}): EhrWriteRequest => ({ change, idempotencyKey: randomUUID(), correlationId: randomUUID(), ...more });

function expectKind<K extends EhrWriteOutcome['kind']>(o: EhrWriteOutcome, kind: K, code?: string): Extract<EhrWriteOutcome, { kind: K }> {
  assert.equal(o.kind, kind, `expected ${kind}, got ${JSON.stringify(o)}`);
  if (code !== undefined) assert.equal((o as { code?: string }).code, code, JSON.stringify(o));
  return o as Extract<EhrWriteOutcome, { kind: K }>;
}

describe('HL7 v2 over MLLP against the HL7 simulator', () => {
  let sim: Hl7Simulator;
  let adapter: EhrAdapter;
  before(async () => {
    sim = await startHl7Simulator({ host: '127.0.0.1', port: 0, mode: 'AA' });
    adapter = await createEhrAdapter(
      { name: 'legacy', profile: 'hl7v2-mllp', mllp: { host: sim.host, port: sim.port }, timeoutMs: 1000 },
      { resolvePatient: async (ref) => (ref === 'Patient/pat-1' ? patient : undefined) },
    );
  });
  after(async () => {
    await adapter.close();
    await sim.close();
  });
  beforeEach(() => sim.setMode('AA'));

  it('AA: a draft note goes as MDM^T02 with TXA-17 IP; applied with the control id derived from the idempotency key', async () => {
    const key = randomUUID();
    const before = sim.received().length;
    const o = expectKind(await adapter.write(req({ kind: 'create', resource: note('preliminary') }, { idempotencyKey: key })), 'applied');
    assert.equal(o.result.location, controlIdFor(key));
    assert.equal(o.response.ackCode, 'AA');
    const got = sim.received().slice(before);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.controlId, controlIdFor(key));
    const msg = parseMessage(got[0]?.text ?? '');
    assert.equal(msg.messageCode, 'MDM');
    assert.equal(msg.triggerEvent, 'T02');
    assert.equal(msg.get('TXA-17')?.toString(), 'IP');
  });

  it('a DiagnosticReport Bundle goes as ORU^R01', async () => {
    const before = sim.received().length;
    expectKind(await adapter.write(req({ kind: 'create', resource: report() })), 'applied');
    const got = sim.received().slice(before);
    assert.equal(got.length, 1);
    assert.equal(parseMessage(got[0]?.text ?? '').messageCode, 'ORU');
  });

  it('refuses TXA-17 AU/LA unless signed, before anything is sent; sends it once signed', async () => {
    const before = sim.received().length;
    expectKind(await adapter.write(req({ kind: 'hl7v2', message: er7('AU', 'CTL1') })), 'permanent', 'SWB_ERR_EHR_UNSIGNED_DOCUMENT');
    expectKind(await adapter.write(req({ kind: 'hl7v2', message: er7('LA', 'CTL2') })), 'permanent', 'SWB_ERR_EHR_UNSIGNED_DOCUMENT');
    expectKind(await adapter.write(req({ kind: 'create', resource: note('final') })), 'permanent', 'SWB_ERR_EHR_UNSIGNED_DOCUMENT');
    assert.equal(sim.received().length, before, 'nothing was sent');
    const o = expectKind(await adapter.write(req({ kind: 'hl7v2', message: er7('AU', 'CTL3') }, { signed: true })), 'applied');
    assert.equal(o.result.location, 'CTL3', "the author's MSH-10 is kept");
    const signedNote = expectKind(await adapter.write(req({ kind: 'create', resource: note('final') }, { signed: true })), 'applied');
    assert.equal(parseMessage(sim.received().at(-1)?.text ?? '').get('TXA-17')?.toString(), 'AU');
    assert.ok(signedNote.result.location !== undefined);
    // An unsigned ER7 document (IP) goes, with a control id of ours when it has none.
    const key = randomUUID();
    expectKind(await adapter.write(req({ kind: 'hl7v2', message: er7('IP') }, { idempotencyKey: key })), 'applied');
    assert.equal(sim.received().at(-1)?.controlId, controlIdFor(key));
  });

  it('refuses what an HL7 interface cannot take: an update, an ADT, a conversion without a patient', async () => {
    expectKind(await adapter.write(req({ kind: 'update', resourceType: 'DocumentReference', id: 'd', resource: note('preliminary') })), 'permanent', 'SWB_ERR_EHR_UNSUPPORTED_WRITE');
    expectKind(await adapter.write(req({ kind: 'hl7v2', message: 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\rEVN|A01' })), 'permanent', 'SWB_ERR_EHR_UNSUPPORTED_WRITE');
    expectKind(await adapter.write(req({ kind: 'create', resource: { ...note('preliminary'), subject: { reference: 'Patient/unknown' } } })), 'permanent', 'SWB_ERR_EHR_HL7_CONVERSION');
    assert.equal((await adapter.read('DocumentReference', 'x')).kind, 'not_found');
  });

  it('AE is permanent, AR transient, no ACK ambiguous', async () => {
    sim.enqueue('AE', 'AR', 'none');
    const ae = expectKind(await adapter.write(req({ kind: 'create', resource: note('preliminary') })), 'permanent', 'SWB_ERR_MLLP_NAK_ERROR');
    assert.equal(ae.response.ackCode, 'AE');
    const ar = expectKind(await adapter.write(req({ kind: 'create', resource: note('preliminary') })), 'transient', 'SWB_ERR_MLLP_NAK_REJECT');
    assert.equal(ar.response.ackCode, 'AR');
    const before = sim.received().length;
    expectKind(await adapter.write(req({ kind: 'create', resource: note('preliminary') })), 'ambiguous', 'SWB_ERR_MLLP_ACK_TIMEOUT');
    assert.equal(sim.received().length, before + 1, 'the receiver got it; only its answer is missing');
    // The connection was dropped after the timeout; the next write opens a new one and is acknowledged.
    expectKind(await adapter.write(req({ kind: 'create', resource: note('preliminary') })), 'applied');
  });

  it('a connection lost before the ACK is ambiguous; a refused connection is transient', async () => {
    // A peer that reads the message and closes without answering.
    const sink = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const port = (sink.address() as net.AddressInfo).port;
    const lossy = await createEhrAdapter({ name: 'lossy', profile: 'hl7v2-mllp', mllp: { host: '127.0.0.1', port } }, { resolvePatient: async () => patient });
    try {
      expectKind(await lossy.write(req({ kind: 'create', resource: note('preliminary') })), 'ambiguous', 'SWB_ERR_MLLP_CONNECTION_LOST');
    } finally {
      await lossy.close();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    }
    const refused = await createEhrAdapter({ name: 'refused', profile: 'hl7v2-mllp', mllp: { host: '127.0.0.1', port } }, { resolvePatient: async () => patient });
    try {
      expectKind(await refused.write(req({ kind: 'create', resource: note('preliminary') })), 'transient', 'SWB_ERR_MLLP_CONNECT_FAILED');
    } finally {
      await refused.close();
    }
  });
});
