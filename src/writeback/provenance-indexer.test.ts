import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FhirResource, IndexEntry } from '../core/ports/resource-store.ts';
import type { Proposal, ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import { DirectIndexer } from '../fhir/direct-indexing.ts';
import { FhirSearchIndexer } from '../fhir/search-parameters.ts';
import { buildProvenance } from './ai-content.ts';
import { provenanceEntries } from './provenance-indexer.ts';

const fhirpath = new FhirSearchIndexer();
const fast = new DirectIndexer(fhirpath, { Provenance: provenanceEntries });
/** Fails when a Provenance reaches the fallback: proves the direct path handled it. */
const direct = new DirectIndexer(
  {
    index: (r) => {
      if (r.resourceType === 'Provenance') throw new Error('fell back to FHIRPath');
      return fhirpath.index(r);
    },
  },
  { Provenance: provenanceEntries },
);

const sorted = (entries: IndexEntry[]): string[] => entries.map((e) => JSON.stringify(e, Object.keys(e).sort())).sort();
/** As the store keeps it: id, versionId and lastUpdated added to the built meta. */
const stored = (p: FhirResource, n: number): FhirResource => ({ ...p, id: `pv${n}`, meta: { ...(p['meta'] as object), versionId: '1', lastUpdated: '2026-03-01T09:00:00.123Z' } });

const actors: ProposalActor[] = [
  { kind: 'agent', id: 'scribe-1', model: 'note-model', modelVersion: '2026-01' },
  { kind: 'agent', id: 'scribe-2' },
  { kind: 'app', id: 'vitals-app', display: 'Vitals app' },
  { kind: 'user', id: 'u-17' },
  { kind: 'service', id: 'svc', model: 'triage-model' },
];
const changes: ProposedChange[] = [
  { kind: 'create', resource: { resourceType: 'Observation', status: 'final' } },
  { kind: 'update', resourceType: 'Condition', id: 'c1', resource: { resourceType: 'Condition', id: 'c1' } },
  { kind: 'patch', resourceType: 'DocumentReference', id: 'd1', patch: [{ op: 'replace', path: '/docStatus', value: 'final' }] },
  { kind: 'hl7v2', message: 'MSH|^~\\&|SB|FAC|EHR|FAC|20260301090000||MDM^T02|C1|P|2.5.1\rEVN|T02|20260301090000\r' },
];
const targets = ['Observation/123', 'DocumentReference/d1/_history/2', 'https://ehr.example.org/fhir/R4/Condition/c9', 'Patient/p-4', 'https://ehr.example.org/fhir/R4/Patient/p-5'];

function provenances(): FhirResource[] {
  const out: FhirResource[] = [];
  let n = 0;
  for (const actor of actors) {
    for (const change of changes) {
      const target = targets[n % targets.length] ?? 'Observation/1';
      const proposal = { correlationId: `corr-${n}`, purposeOfUse: n % 2 === 0 ? 'TREAT' : 'HOPERAT', actor, change } as unknown as Proposal;
      const approver: ProposalActor | undefined = n % 3 === 0 ? undefined : { kind: 'user', id: `rev-${n}`, ...(n % 2 === 0 ? { display: 'Dr Reviewer' } : {}) };
      const signer: ProposalActor | undefined = n % 4 === 1 ? { kind: 'user', id: `sig-${n}` } : undefined;
      const at = new Date(Date.UTC(2026, 2, 1, 9, 0, 0, n));
      out.push(stored(buildProvenance({ target, proposal, at, ...(approver === undefined ? {} : { approver }), ...(signer === undefined ? {} : { signer }) }), n));
      n++;
    }
  }
  return out;
}

describe('Provenance direct indexer', () => {
  test('gives exactly the FHIRPath indexer entries for every Provenance shape write-back builds', () => {
    const all = provenances();
    assert.equal(all.length, actors.length * changes.length);
    const params = new Set<string>();
    for (const p of all) {
      const expected = sorted(fhirpath.index(p));
      assert.ok(expected.length >= 5, 'the FHIRPath indexer found entries');
      const entries = direct.index(p);
      assert.deepEqual(sorted(entries), expected, `entries of ${JSON.stringify(p)}`);
      for (const e of entries) params.add(e.param);
    }
    // Every parameter the shapes reach is covered, the patient one included.
    assert.deepEqual([...params].sort(), ['_id', '_lastUpdated', '_tag', 'agent-type', 'patient', 'recorded', 'target']);
  });

  test('a Provenance of another shape is indexed by FHIRPath, its extra entries included', () => {
    const base = provenances()[2] as FhirResource & { agent: Array<Record<string, unknown>> };
    const variants: Array<[FhirResource, string]> = [
      [{ ...base, agent: [{ ...base.agent[0], who: { reference: 'Practitioner/pr-1' } }] }, 'agent'],
      [{ ...base, entity: [{ role: 'source', what: { reference: 'DocumentReference/d0' } }] }, 'entity'],
      [{ ...base, occurredDateTime: '2026-03-01' }, 'when'],
      [{ ...base, meta: { ...(base['meta'] as object), security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'AIAST' }] } }, '_security'],
      [{ ...base, signature: [{ type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1' }], when: '2026-03-01T09:00:00Z', who: { reference: 'Practitioner/pr-1' } }] }, 'signature-type'],
    ];
    for (const [variant, param] of variants) {
      assert.throws(() => direct.index(variant), /fell back/, param);
      const entries = fast.index(variant);
      assert.deepEqual(sorted(entries), sorted(fhirpath.index(variant)));
      assert.ok(entries.some((e) => e.param === param), `${param} indexed`);
    }
  });
});
