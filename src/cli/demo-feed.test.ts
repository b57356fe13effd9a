import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage } from '../hl7v2/index.ts';
import { validateMessage } from '../hl7v2/hl7-validator.ts';
import { unmappedFields } from '../mapping/mapping-report.ts';
import { convertV2ToFhir } from '../mapping/v2-to-fhir.ts';
import { demoFeed } from './demo-feed.ts';

const EXPECTED_ORDER = ['ADT^A04', 'ADT^A01', 'ORU^R01', 'ORU^R01', 'ADT^A08', 'ORU^R01', 'SIU^S12', 'ADT^A03'];

test('the demo feed is the same for the same seed, different for another, and keeps each patient\'s messages in order', () => {
  const start = new Date('2026-11-24T10:00:00Z');
  const a = demoFeed({ patients: 6, seed: 7, start });
  const b = demoFeed({ patients: 6, seed: 7, start });
  const c = demoFeed({ patients: 6, seed: 8, start });
  assert.deepEqual(a.messages, b.messages);
  assert.notDeepEqual(a.messages.map((m) => m.text), c.messages.map((m) => m.text));
  assert.equal(a.messages.length, 6 * EXPECTED_ORDER.length);
  assert.equal(new Set(a.messages.map((m) => m.controlId)).size, a.messages.length, 'control ids are unique');
  for (const p of a.patients) assert.deepEqual(a.messages.filter((m) => m.mrn === p.mrn).map((m) => m.type), EXPECTED_ORDER, p.mrn);
  // Interleaved, as a real feed: not all of one patient, then the next.
  assert.notDeepEqual(a.messages.slice(0, EXPECTED_ORDER.length).map((m) => m.mrn), Array(EXPECTED_ORDER.length).fill(a.messages[0]?.mrn));
});

test('every demo message is valid HL7 v2.5.1 and maps to FHIR with nothing left unmapped without a reason', () => {
  const { messages, patients } = demoFeed({ patients: 4, seed: 11 });
  const patientIds = new Map<string, Set<string>>();
  for (const m of messages) {
    const parsed = parseMessage(m.text);
    const validation = validateMessage(parsed);
    assert.equal(validation.valid, true, `${m.type} ${m.controlId}: ${JSON.stringify(validation.issues)}`);
    const { bundle, report } = convertV2ToFhir(parsed, { validate: true });
    for (const f of unmappedFields(report)) assert.equal(f.status, 'skipped', `${m.type} ${f.segment} field ${JSON.stringify(f)} is unmapped`);
    const ids = patientIds.get(m.mrn) ?? new Set<string>();
    for (const e of bundle.entry ?? []) if (e.resource?.resourceType === 'Patient' && e.resource.id !== undefined) ids.add(e.resource.id);
    patientIds.set(m.mrn, ids);
  }
  // Deterministic ids: every message about one patient upserts the same Patient resource.
  for (const p of patients) assert.equal(patientIds.get(p.mrn)?.size, 1, p.mrn);
});
