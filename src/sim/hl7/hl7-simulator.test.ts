import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isSwitchboardError } from '../../core/errors.ts';
import { MllpClient } from '../../mllp/mllp-client.ts';
import { startHl7Simulator, type Hl7Simulator } from './hl7-simulator.ts';

// A real MLLP client against the simulator on 127.0.0.1 port 0.

function mdm(controlId: string): string {
  return [
    `MSH|^~\\&|SWB|WRITEBACK|EHR|SIM|20240101120000||MDM^T02^MDM_T02|${controlId}|P|2.5.1`,
    'EVN|T02|20240101120000',
    'PID|1||SIM0001^^^SIM^MR||SIMULATED^ALPHA||19700101|F',
    'PV1|1|O',
    `TXA|1|CN|TX|20240101120000|||||||${controlId}-doc||||||IP`,
    'OBX|1|TX|11506-3^Progress note^LN||synthetic note text',
    '',
  ].join('\r');
}

describe('HL7 v2 simulator', () => {
  let sim: Hl7Simulator;
  let client: MllpClient;
  before(async () => {
    sim = await startHl7Simulator({});
    client = new MllpClient({ host: sim.host, port: sim.port, ackTimeoutMs: 500, connectTimeoutMs: 2000 });
  });
  after(async () => {
    await client.close();
    await sim.close();
  });

  test('answers AA by default and records what it received', async () => {
    const reply = await client.send(mdm('C1'));
    assert.equal(reply.ack?.code, 'AA');
    assert.equal(reply.ack?.controlId, 'C1');
    const got = sim.received();
    assert.equal(got.length, 1);
    assert.equal(got[0]?.controlId, 'C1');
    assert.equal(got[0]?.type, 'MDM^T02^MDM_T02');
    assert.match(got[0]?.text ?? '', /^MSH\|/);
    assert.ok(!Number.isNaN(Date.parse(got[0]?.at ?? '')));
  });

  test('setMode AE and AR answer with that code and an ERR segment', async () => {
    sim.setMode('AE');
    const ae = await client.send(mdm('C2'));
    assert.equal(ae.ack?.code, 'AE');
    assert.equal(ae.ack?.errorCode, '207');
    sim.setMode('AR');
    const ar = await client.send(mdm('C3'));
    assert.equal(ar.ack?.code, 'AR');
    assert.equal(ar.ack?.controlId, 'C3');
    sim.setMode('AA');
  });

  test('none sends no reply: the client times out (ambiguous), and the message was received', async () => {
    sim.setMode('none');
    try {
      await assert.rejects(client.send(mdm('C4')), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_MLLP_ACK_TIMEOUT' && e.failureClass === 'ambiguous');
    } finally {
      sim.setMode('AA');
    }
    assert.ok(sim.received().some((r) => r.controlId === 'C4'));
  });

  test('enqueue scripts the next replies, then the mode answers again', async () => {
    sim.setMode('AA');
    sim.enqueue('AR', 'AE');
    assert.equal((await client.send(mdm('C5'))).ack?.code, 'AR');
    assert.equal((await client.send(mdm('C6'))).ack?.code, 'AE');
    assert.equal((await client.send(mdm('C7'))).ack?.code, 'AA');
    assert.throws(() => sim.enqueue('XX' as never), /mode must be one of/);
  });
});
