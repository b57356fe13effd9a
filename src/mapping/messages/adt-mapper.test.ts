import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Encounter, Location, Patient } from '@medplum/fhirtypes';
import { SwitchboardError } from '../../core/errors.ts';
import { parseMessage, type Hl7Message } from '../../hl7v2/index.ts';
import { convertAdt, onlyOf, resolve, resourcesOf, seg, TEST_PID } from '../segments/adt-test-kit.ts';
import { convertV2ToFhir, mapperFor } from '../v2-to-fhir.ts';

const PV1 = (fields: Record<number, string> = {}) => seg('PV1', { 1: '1', 2: 'I', 3: 'W1^101^A^HOSP', 19: 'V77^^^HOSP^VN', 44: '20240305090000', ...fields });
const encounterOf = (event: string, segments: string[]): Encounter => onlyOf<Encounter>(convertAdt(event, segments).bundle, 'Encounter');

describe('ADT events -> Encounter status (IG concept map Event[EncounterStatus])', () => {
  for (const [event, status] of [
    ['A01', 'in-progress'],
    ['A04', 'planned'],
    ['A05', 'planned'],
    ['A06', 'in-progress'],
    ['A07', 'in-progress'],
    ['A11', 'cancelled'],
  ] as const) {
    it(`${event} -> ${status}`, () => {
      assert.equal(encounterOf(event, [TEST_PID, PV1()]).status, status);
    });
  }

  it('A02 transfer: the new location active, the prior one (PV1-6) completed', () => {
    const enc = encounterOf('A02', [TEST_PID, PV1({ 3: 'W2^202^B^HOSP', 6: 'W1^101^A^HOSP' })]);
    assert.equal(enc.status, 'in-progress');
    assert.deepEqual(enc.location?.map((l) => l.status), ['active', 'completed']);
  });

  it('A03 discharge: finished, period.end from PV1-45, the location completed; same Encounter id as the admit', () => {
    const admit = encounterOf('A01', [TEST_PID, PV1()]);
    const discharge = encounterOf('A03', [TEST_PID, PV1({ 45: '20240307120000' })]);
    assert.equal(discharge.id, admit.id);
    assert.equal(discharge.status, 'finished');
    assert.equal(discharge.period?.end, '2024-03-07T12:00:00-05:00');
    assert.equal(discharge.location?.[0]?.status, 'completed');
  });

  it('A03 without PV1-45 ends the visit at the event time (EVN-6, else EVN-2)', () => {
    const enc = encounterOf('A03', [seg('EVN', { 2: '20240307130000', 6: '20240307125500' }), TEST_PID, PV1()]);
    assert.equal(enc.period?.end, '2024-03-07T12:55:00-05:00');
  });

  it('A13 cancel discharge: in progress again, the discharge time dropped', () => {
    const { bundle, report } = convertAdt('A13', [TEST_PID, PV1({ 45: '20240307120000' })]);
    const enc = onlyOf<Encounter>(bundle, 'Encounter');
    assert.equal(enc.status, 'in-progress');
    assert.equal(enc.period?.end, undefined);
    assert.equal(report.segments.find((s) => s.segment === 'PV1')?.fields.find((f) => f.field === 'PV1-45')?.status, 'skipped');
  });

  it('A28/A31 carry the person: no Encounter for a placeholder PV1, one for a PV1 with visit content', () => {
    const placeholder = convertAdt('A31', [TEST_PID, 'PV1|1|N']);
    assert.equal(resourcesOf<Encounter>(placeholder.bundle, 'Encounter').length, 0);
    assert.equal(resourcesOf<Patient>(placeholder.bundle, 'Patient').length, 1);
    assert.match(placeholder.report.segments.find((s) => s.segment === 'PV1')?.reason ?? '', /person information/);
    assert.equal(resourcesOf<Encounter>(convertAdt('A28', [TEST_PID]).bundle, 'Encounter').length, 0);
    assert.equal(resourcesOf<Encounter>(convertAdt('A31', [TEST_PID, PV1()]).bundle, 'Encounter').length, 1);
  });

  it('A08 update takes the status from PV1 (the IG says unknown, which a PUT would write over the real one)', () => {
    assert.equal(encounterOf('A08', [TEST_PID, PV1()]).status, 'in-progress');
  });
});

describe('A40 merge', () => {
  it('maps every PID/MRG pair: merged-away Patients inactive and replaced-by, survivors replaces', () => {
    const { bundle } = convertAdt('A40', [
      seg('EVN', { 2: '20240305101500' }),
      'PID|1||KEEP-1^^^HOSP^MR||Doe^Jane',
      seg('MRG', { 1: 'GONE-1^^^HOSP^MR' }),
      'PID|1||KEEP-2^^^HOSP^MR||Roe^Rick',
      seg('MRG', { 1: 'GONE-2^^^HOSP^MR' }),
    ]);
    const patients = resourcesOf<Patient>(bundle, 'Patient');
    assert.equal(patients.length, 4);
    for (const n of ['1', '2']) {
      const survivor = patients.find((p) => p.identifier?.[0]?.value === `KEEP-${n}`);
      const old = patients.find((p) => p.identifier?.[0]?.value === `GONE-${n}`);
      assert.equal(old?.active, false);
      assert.equal(old?.link?.[0]?.type, 'replaced-by');
      assert.equal(old?.link?.[0]?.other.reference, `Patient/${survivor?.id}`);
      assert.equal(survivor?.link?.[0]?.type, 'replaces');
      assert.equal(survivor?.link?.[0]?.other.reference, `Patient/${old?.id}`);
    }
  });
});

describe('deterministic ids', () => {
  it('re-sending the same A01 gives identical resource ids', () => {
    const segments = [seg('EVN', { 2: '20240305101500', 5: '5^Clerk^Cy' }), TEST_PID, seg('NK1', { 2: 'Doe^John', 3: 'SPO' }), PV1({ 7: '11^Doc^Dee' }), seg('AL1', { 2: 'DA', 3: 'PCN^Penicillin^L' }), seg('DG1', { 3: 'I10^HTN^I10C' }), seg('IN1', { 3: 'P1^^^NAIC', 4: 'Payer' })];
    const ids = (control: string) => (convertAdt('A01', segments, control).bundle.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
    const first = ids('C1');
    assert.deepEqual(ids('C1'), first);
    assert.equal(new Set(first).size, first.length, 'no two entries share an id');
  });

  it('the Location of PV1-3 is the same resource in an admit and a later transfer away from it', () => {
    const admit = convertAdt('A01', [TEST_PID, PV1()]).bundle;
    const transfer = convertAdt('A02', [TEST_PID, PV1({ 3: 'W2^202^B^HOSP', 6: 'W1^101^A^HOSP' })]).bundle;
    const bedOf = (b: typeof admit, i: number) => resolve<Location>(b, onlyOf<Encounter>(b, 'Encounter').location?.[i]?.location.reference)?.id;
    assert.equal(bedOf(transfer, 1), bedOf(admit, 0));
  });
});

// ---- corpus: every ADT message under the IG and Microsoft samples converts, keeping PID-3 ----

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const corpus = resolvePath(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus');
const SOURCES = ['hl7v2/microsoft-fhir-converter/messages', 'hl7v2/v2-to-fhir-ig/test-conversions-messages', 'hl7v2/v2-to-fhir-ig/samples/messages'];

function adtMessages(): Array<{ file: string; msg: Hl7Message }> {
  const out: Array<{ file: string; msg: Hl7Message }> = [];
  for (const dir of SOURCES.map((s) => join(corpus, s)).filter(existsSync)) {
    for (const name of readdirSync(dir).sort()) {
      if (!/\.(hl7|txt)$/i.test(name)) continue;
      let msg: Hl7Message;
      try {
        msg = parseMessage(readFileSync(join(dir, name), 'utf8'));
      } catch {
        continue; // only messages that parse are in scope
      }
      if (msg.messageCode === 'ADT') out.push({ file: name, msg });
    }
  }
  return out;
}

describe('corpus ADT messages', () => {
  it('convert without throwing and keep every PID-3 identifier on the Patient', (t) => {
    if (!existsSync(join(corpus, 'hl7v2'))) {
      t.skip(`corpus not found at ${corpus} (set SWITCHBOARD_CORPUS)`);
      return;
    }
    const messages = adtMessages();
    assert.ok(messages.length > 0, 'no ADT message found in the corpus');
    let converted = 0;
    let unsupported = 0;
    for (const { file, msg } of messages) {
      if (mapperFor(msg) === undefined) {
        // Events deliberately not mapped must fail with the located "unsupported" error.
        assert.throws(() => convertV2ToFhir(msg), (e: unknown) => e instanceof SwitchboardError && e.code === 'SWB_ERR_MAP_UNSUPPORTED_MESSAGE', file);
        unsupported++;
        continue;
      }
      const { bundle } = convertV2ToFhir(msg);
      converted++;
      const pid3 = msg.segment('PID')?.rawField(3);
      if (pid3 === undefined || pid3 === '') continue;
      const values = pid3.split(msg.encoding.repetition).map((r) => r.split(msg.encoding.component)[0]).filter((v): v is string => v !== undefined && v !== '');
      const patientIds = new Set(resourcesOf<Patient>(bundle, 'Patient').flatMap((p) => (p.identifier ?? []).map((i) => i.value)));
      for (const v of values) assert.ok(patientIds.has(v), `${file}: PID-3 identifier missing from the Patient`);
    }
    t.diagnostic(`ADT corpus: ${converted} converted, ${unsupported} unsupported events`);
    assert.ok(converted >= 40, `expected most corpus ADT messages to convert, got ${converted}`);
  });
});

describe('no silent loss', () => {
  it('every field of the ADT segments, all present, is either mapped or skipped with a reason', () => {
    const full = (name: string, count: number, value: (n: number) => string = () => 'X1'): string => seg(name, Object.fromEntries(Array.from({ length: count }, (_, i) => [i + 1, value(i + 1)])));
    const ts = '20240305101500';
    const segments = [
      full('EVN', 7, (n) => (n === 2 || n === 3 || n === 6 ? ts : 'X1')),
      full('PID', 30, (n) => (n === 7 || n === 29 ? ts : n === 8 ? 'F' : 'X1')),
      full('PD1', 22),
      full('ROL', 14, (n) => (n === 3 ? 'PP' : n === 5 || n === 6 ? ts : 'X1')),
      full('NK1', 41, (n) => (n === 8 || n === 9 || n === 16 ? ts : 'X1')),
      full('PV1', 54, (n) => (n === 2 ? 'I' : n === 44 || n === 45 ? ts : n === 11 || n === 3 ? 'W1^1^1' : 'X1')),
      full('PV2', 50, (n) => (n === 8 || n === 9 ? ts : n === 11 ? '3' : 'X1')),
      full('ROL', 14, (n) => (n === 5 || n === 6 ? ts : 'X1')),
      full('AL1', 6, (n) => (n === 6 ? ts : 'X1')),
      full('DG1', 26, (n) => (n === 5 || n === 19 ? ts : n === 15 ? '1' : 'X1')),
      full('PR1', 25, (n) => (n === 5 ? ts : n === 7 ? '30' : 'X1')),
      full('GT1', 57, (n) => (n === 8 || n === 13 || n === 14 ? ts : 'X1')),
      full('IN1', 55, (n) => (n === 12 || n === 13 || n === 18 ? ts : n === 22 ? '1' : 'X1')),
    ];
    const { report } = convertAdt('A01', segments);
    const adtSegments = new Set(['EVN', 'PD1', 'ROL', 'NK1', 'PV1', 'PV2', 'AL1', 'DG1', 'PR1', 'GT1', 'IN1']);
    const unmapped = report.segments.filter((s) => adtSegments.has(s.segment)).flatMap((s) => s.fields.filter((f) => f.status === 'unmapped').map((f) => f.field));
    assert.deepEqual(unmapped, []);
    const reported = report.segments.filter((s) => adtSegments.has(s.segment)).reduce((n, s) => n + s.fields.length, 0);
    assert.ok(reported >= 300, `every present field is reported (${reported})`);
    const skippedWithoutReason = report.segments.flatMap((s) => s.fields.filter((f) => f.status === 'skipped' && (f.reason ?? '') === '').map((f) => f.field));
    assert.deepEqual(skippedWithoutReason, []);
  });
});
