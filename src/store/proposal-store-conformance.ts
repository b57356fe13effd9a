import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NewProposal, Proposal, ProposalStore, ProposedChange } from '../core/ports/proposal-store.ts';

/**
 * The one ProposalStore conformance suite (STYLE.md "Ports and adapters"): run by
 * src/store/<kind>/*-proposal-store*.test.ts against every implementation. The factory gives a
 * fresh, empty store whose clock is settable, so times are exact in the assertions.
 */
export interface ProposalStoreFixture {
  readonly store: ProposalStore;
  /** Sets the store's clock (ms since the epoch). */
  readonly setNow: (ms: number) => void;
  readonly cleanup: () => Promise<void>;
}
export type ProposalStoreFactory = () => Promise<ProposalStoreFixture>;

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const at = (offsetMs: number): Date => new Date(T0 + offsetMs);

const vitals: ProposedChange = {
  kind: 'create',
  resource: {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: 'Patient/pat-1' },
    valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  },
};

/** A valid new proposal (a vital-sign Observation), with `over` applied: for this suite and the stores' own tests. */
export const newProposalFixture = (over: Partial<NewProposal> = {}): NewProposal => ({
  tenant: 'default',
  ehr: 'epic-sim',
  patient: 'Patient/pat-1',
  change: vitals,
  actor: { kind: 'app', id: 'vitals-app' },
  purposeOfUse: 'TREAT',
  idempotencyKey: 'k-1',
  correlationId: 'corr-1',
  state: 'pending_review',
  ...over,
});

async function created(store: ProposalStore, input: NewProposal): Promise<Proposal> {
  const out = await store.create(input);
  assert.equal(out.kind, 'created', `expected a new proposal for key ${input.idempotencyKey}`);
  return out.proposal;
}

export function runProposalStoreSuite(name: string, factory: ProposalStoreFactory): void {
  const it = (title: string, body: (store: ProposalStore, fixture: ProposalStoreFixture) => Promise<void>): void => {
    test(title, { timeout: 60_000 }, async () => {
      const fixture = await factory();
      fixture.setNow(T0);
      try {
        await body(fixture.store, fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  };

  describe(name, () => {
    it('create stores the proposal exactly; get finds it; creation is the first event, with no `from`', async (store) => {
      const input = newProposalFixture({ actor: { kind: 'agent', id: 'scribe-1', display: 'Scribe', model: 'note-model', modelVersion: '2026-01' }, policy: { decision: 'review', rule: 'ai-review' } });
      const out = await store.create(input);
      assert.equal(out.kind, 'created');
      const p = out.proposal;
      assert.ok(p.id.length > 0);
      const { at: _at, ...rest } = { ...input, at: undefined };
      assert.deepEqual(p, { ...rest, id: p.id, revision: 1, attempts: 0, createdAt: at(0), updatedAt: at(0) });
      assert.deepEqual(await store.get(p.id), p);
      assert.equal(await store.get('no-such-proposal'), undefined);

      const events = await store.events(p.id);
      assert.equal(events.length, 1);
      const first = events[0];
      assert.ok(first !== undefined);
      assert.deepEqual(first, { id: first.id, proposalId: p.id, at: at(0), to: 'pending_review', actor: 'agent:scribe-1' });
      assert.equal('from' in first, false, 'creation has no from');
      assert.deepEqual(await store.events('no-such-proposal'), []);
    });

    it('create honours a given id and time', async (store) => {
      const p = await created(store, newProposalFixture({ id: 'prop-fixed', at: at(5000), state: 'proposed' }));
      assert.equal(p.id, 'prop-fixed');
      assert.deepEqual(p.createdAt, at(5000));
      assert.equal(p.state, 'proposed');
    });

    it('create is idempotent per (tenant, actor.id, idempotencyKey): the first proposal is returned untouched', async (store, fx) => {
      const first = await created(store, newProposalFixture());
      fx.setNow(T0 + 1000);
      const again = await store.create(newProposalFixture({ patient: 'Patient/pat-2', correlationId: 'corr-other', change: { kind: 'hl7v2', message: 'MSH|^~\\&|X' } }));
      assert.equal(again.kind, 'existing');
      assert.deepEqual(again.proposal, first, 'the existing proposal, not the new input');
      assert.equal((await store.events(first.id)).length, 1, 'no second creation event');

      // Any part of the key differing makes a new proposal.
      const otherTenant = await created(store, newProposalFixture({ tenant: 'clinic-b' }));
      const otherActor = await created(store, newProposalFixture({ actor: { kind: 'user', id: 'dr-who', roles: ['reviewer'] } }));
      const otherKey = await created(store, newProposalFixture({ idempotencyKey: 'k-2' }));
      assert.equal(new Set([first.id, otherTenant.id, otherActor.id, otherKey.id]).size, 4);
      // The actor's kind is not part of the key: the same id is the same author.
      const sameIdOtherKind = await store.create(newProposalFixture({ actor: { kind: 'service', id: 'vitals-app' } }));
      assert.equal(sameIdOtherKind.kind, 'existing');
    });

    it('20 concurrent creates with one key: exactly one `created`, all return the same proposal', async (store) => {
      const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.create(newProposalFixture({ idempotencyKey: 'burst', correlationId: `c-${i}` }))));
      assert.equal(outs.filter((o) => o.kind === 'created').length, 1);
      assert.equal(outs.filter((o) => o.kind === 'existing').length, 19);
      assert.equal(new Set(outs.map((o) => o.proposal.id)).size, 1);
      const page = await store.list();
      assert.equal(page.items.length, 1);
      assert.equal((await store.events(page.items[0]?.id ?? '')).length, 1);
    });

    it('create refuses input it cannot keep (SWB_ERR_STORE_INVALID_RECORD)', async (store) => {
      await assert.rejects(store.create(newProposalFixture({ tenant: '' })), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      await assert.rejects(store.create(newProposalFixture({ idempotencyKey: '' })), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      await assert.rejects(store.create(newProposalFixture({ actor: { kind: 'app', id: '' } })), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      await assert.rejects(store.create(newProposalFixture({ state: 'nonsense' as never })), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      await assert.rejects(store.create(newProposalFixture({ at: new Date(Number.NaN) })), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      assert.equal((await store.list()).items.length, 0);
    });

    it('JSON round trips exactly: nested resources, unicode, key order, numbers', async (store) => {
      const note: ProposedChange = {
        kind: 'update',
        resourceType: 'DocumentReference',
        id: 'doc-9',
        baseVersion: '3',
        resource: {
          resourceType: 'DocumentReference',
          id: 'doc-9',
          status: 'current',
          docStatus: 'preliminary',
          zeta: 1,
          alpha: [0.1, -2.5e-7, 12345678901234, true, null, { deep: [[{ deeper: 'x' }]] }],
          description: 'Überweisung — 患者 🩺 naïve café \u00e9 vs e\u0301, quotes "\' and back\\slash, tab\t, nl\n, nul\u0000',
          content: [{ attachment: { contentType: 'text/plain; charset=utf-8', data: 'SGVsbG8=', title: 'Ärztlicher Befund' } }],
        },
      };
      const actor = { kind: 'agent', id: 'scribe', display: 'Scribe ✍️', roles: [], model: 'm', modelVersion: 'v1' } as const;
      const policy = { decision: 'review', reasons: ['AI authored', 'Diagnose: Ödem'], violations: [], nested: { z: 1, a: 2 } };
      const p = await created(store, newProposalFixture({ change: note, actor, policy }));
      const got = await store.get(p.id);
      assert.ok(got !== undefined);
      assert.equal(JSON.stringify(got.change), JSON.stringify(note), 'same text, same key order');
      assert.equal(JSON.stringify(got.actor), JSON.stringify(actor));
      assert.equal(JSON.stringify(got.policy), JSON.stringify(policy));
      assert.deepEqual(got.change, note);

      const patch: ProposedChange = { kind: 'patch', resourceType: 'Condition', id: 'c1', patch: [{ op: 'replace', path: '/clinicalStatus/coding/0/code', value: 'résolu' }, { op: 'remove', path: '/note/0' }] };
      const moved = await store.transition(p.id, { from: 'pending_review', to: 'approved', actor: 'user:dr-who', detail: { edited: ['code.text'], comment: 'Geprüft ✓' }, set: { approvedChange: patch } });
      assert.equal(moved.kind, 'ok');
      const after = await store.get(p.id);
      assert.equal(JSON.stringify(after?.approvedChange), JSON.stringify(patch));
      assert.equal(JSON.stringify(after?.change), JSON.stringify(note), 'the original change is kept beside the approved one');
      const events = await store.events(p.id);
      assert.deepEqual(events[1]?.detail, { edited: ['code.text'], comment: 'Geprüft ✓' });

      const hl7 = await created(store, newProposalFixture({ idempotencyKey: 'k-hl7', change: { kind: 'hl7v2', message: 'MSH|^~\\&|SWB|FAC|EHR|FAC|20260301090000||MDM^T02|C1|P|2.5.1\rTXA|1|CN|TX|||||||||||||||IP' } }));
      assert.deepEqual((await store.get(hl7.id))?.change, hl7.change);
    });

    it('list: every filter, alone and combined; newest first', async (store, fx) => {
      const a = await created(store, newProposalFixture({ idempotencyKey: 'a', state: 'pending_review' }));
      fx.setNow(T0 + 1000);
      const b = await created(store, newProposalFixture({ idempotencyKey: 'b', state: 'approved', ehr: 'oracle-sim', patient: 'Patient/pat-2' }));
      fx.setNow(T0 + 2000);
      const c = await created(store, newProposalFixture({ idempotencyKey: 'c', state: 'pending_review', tenant: 'clinic-b', correlationId: 'corr-c' }));
      fx.setNow(T0 + 3000);
      const d = await created(store, newProposalFixture({ idempotencyKey: 'd', state: 'rejected_by_policy', patient: 'Patient/pat-2' }));

      const ids = async (q: Parameters<ProposalStore['list']>[0]): Promise<string[]> => (await store.list(q)).items.map((p) => p.id);
      assert.deepEqual(await ids({}), [d.id, c.id, b.id, a.id]);
      assert.deepEqual(await ids(undefined), [d.id, c.id, b.id, a.id]);
      assert.deepEqual(await ids({ states: ['pending_review'] }), [c.id, a.id]);
      assert.deepEqual(await ids({ states: ['approved', 'rejected_by_policy'] }), [d.id, b.id]);
      assert.deepEqual(await ids({ states: [] }), []);
      assert.deepEqual(await ids({ tenant: 'clinic-b' }), [c.id]);
      assert.deepEqual(await ids({ tenant: 'default' }), [d.id, b.id, a.id]);
      assert.deepEqual(await ids({ ehr: 'oracle-sim' }), [b.id]);
      assert.deepEqual(await ids({ patient: 'Patient/pat-2' }), [d.id, b.id]);
      assert.deepEqual(await ids({ correlationId: 'corr-c' }), [c.id]);
      assert.deepEqual(await ids({ patient: 'Patient/pat-2', states: ['approved'] }), [b.id]);
      assert.deepEqual(await ids({ tenant: 'default', ehr: 'epic-sim', patient: 'Patient/pat-1', states: ['pending_review'], correlationId: 'corr-1' }), [a.id]);
      assert.deepEqual(await ids({ ehr: 'nowhere' }), []);
      await assert.rejects(store.list({ states: ['nonsense' as never] }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
    });

    it('list dueBefore: nextAttemptAt when set, else updatedAt; a cleared nextAttemptAt falls back to updatedAt', async (store, fx) => {
      const early = await created(store, newProposalFixture({ idempotencyKey: 'early', state: 'committing' }));
      fx.setNow(T0 + 10_000);
      const late = await created(store, newProposalFixture({ idempotencyKey: 'late', state: 'committing' }));
      const retry = await created(store, newProposalFixture({ idempotencyKey: 'retry', state: 'committing' }));
      const moved = await store.transition(retry.id, { from: 'committing', to: 'retrying', actor: 'engine', at: at(10_000), set: { attempts: 1, nextAttemptAt: at(60_000) } });
      assert.equal(moved.kind, 'ok');

      const due = async (ms: number, states?: Proposal['state'][]): Promise<string[]> =>
        (await store.list({ dueBefore: at(ms), ...(states === undefined ? {} : { states }) })).items.map((p) => p.id).sort();
      assert.deepEqual(await due(0), [early.id], 'at or before: the boundary is included');
      assert.deepEqual(await due(9_999), [early.id]);
      assert.deepEqual(await due(10_000), [early.id, late.id].sort(), 'retry waits for its nextAttemptAt, not its updatedAt');
      assert.deepEqual(await due(59_999), [early.id, late.id].sort());
      assert.deepEqual(await due(60_000), [early.id, late.id, retry.id].sort());
      assert.deepEqual(await due(60_000, ['retrying']), [retry.id]);

      const cleared = await store.transition(retry.id, { from: 'retrying', to: 'committing', actor: 'engine', at: at(20_000), set: { nextAttemptAt: null } });
      assert.equal(cleared.kind, 'ok');
      assert.deepEqual(await due(19_999), [early.id, late.id].sort());
      assert.deepEqual(await due(20_000), [early.id, late.id, retry.id].sort());
    });

    it('cursor paging: newest first, stable under equal createdAt, no duplicates or gaps; a bad cursor is refused', async (store, fx) => {
      const made: Proposal[] = [];
      // Three pairs share an instant: the id breaks the tie.
      for (let i = 0; i < 7; i++) {
        fx.setNow(T0 + Math.floor(i / 2) * 1000);
        made.push(await created(store, newProposalFixture({ idempotencyKey: `page-${i}` })));
      }
      const expected = [...made].sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime() || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0)).map((p) => p.id);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ limit: 3, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...page.items.map((p) => p.id));
        cursor = page.nextCursor;
        pages++;
        assert.ok(pages <= 3, 'paging terminates');
      } while (cursor !== undefined);
      assert.equal(pages, 3);
      assert.deepEqual(seen, expected);

      // Stable: a proposal created after the first page was read does not shift the later pages.
      const first = await store.list({ limit: 3 });
      fx.setNow(T0 + 99_000);
      await created(store, newProposalFixture({ idempotencyKey: 'newer' }));
      const second = await store.list({ limit: 3, ...(first.nextCursor === undefined ? {} : { cursor: first.nextCursor }) });
      assert.deepEqual(second.items.map((p) => p.id), expected.slice(3, 6));
      // Filters and the cursor together.
      const filtered = await store.list({ limit: 2, states: ['pending_review'], tenant: 'default' });
      assert.equal(filtered.items.length, 2);
      assert.ok(filtered.nextCursor !== undefined);

      await assert.rejects(store.list({ cursor: 'not a cursor!' }), { code: 'SWB_ERR_STORE_BAD_CURSOR' });
      await assert.rejects(store.list({ cursor: Buffer.from('{"x":1}').toString('base64url') }), { code: 'SWB_ERR_STORE_BAD_CURSOR' });
    });

    it('transition is a compare-and-set: ok bumps revision and appends the event; wrong from -> stale; unknown id -> not_found', async (store, fx) => {
      const p = await created(store, newProposalFixture());
      fx.setNow(T0 + 5000);
      const ok = await store.transition(p.id, { from: 'pending_review', to: 'approved', actor: 'user:dr-who', reason: 'looks right', detail: { rule: 'vitals-review' } });
      assert.equal(ok.kind, 'ok');
      if (ok.kind !== 'ok') return;
      assert.deepEqual(ok.proposal, { ...p, state: 'approved', revision: 2, updatedAt: at(5000) });
      assert.deepEqual(ok.event, { id: ok.event.id, proposalId: p.id, at: at(5000), from: 'pending_review', to: 'approved', actor: 'user:dr-who', reason: 'looks right', detail: { rule: 'vitals-review' } });
      assert.deepEqual(await store.get(p.id), ok.proposal);

      const stale = await store.transition(p.id, { from: 'pending_review', to: 'rejected', actor: 'user:other' });
      assert.deepEqual(stale, { kind: 'stale', current: ok.proposal });
      assert.deepEqual(await store.transition('no-such-proposal', { from: 'approved', to: 'committing', actor: 'engine' }), { kind: 'not_found' });

      // `from` may list several states.
      const multi = await store.transition(p.id, { from: ['retrying', 'approved'], to: 'committing', actor: 'engine', at: at(6000) });
      assert.equal(multi.kind, 'ok');
      if (multi.kind !== 'ok') return;
      assert.equal(multi.proposal.revision, 3);
      assert.equal(multi.event.from, 'approved');
      assert.equal(multi.event.reason, undefined);
      assert.equal(multi.event.detail, undefined);

      const events = await store.events(p.id);
      assert.deepEqual(events.map((e) => [e.from, e.to]), [[undefined, 'pending_review'], ['pending_review', 'approved'], ['approved', 'committing']]);
      assert.deepEqual(events[1], ok.event);
      assert.equal((await store.get(p.id))?.revision, events.length, 'revision counts the events');
      await assert.rejects(store.transition(p.id, { from: [], to: 'committed', actor: 'engine' }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      await assert.rejects(store.transition(p.id, { from: 'committing', to: 'bogus' as never, actor: 'engine' }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      assert.equal((await store.get(p.id))?.state, 'committing', 'a refused transition changes nothing');
    });

    it('10 concurrent transitions from one state: exactly one ok, the rest stale; one event', async (store) => {
      const p = await created(store, newProposalFixture({ state: 'approved' }));
      const outs = await Promise.all(Array.from({ length: 10 }, (_, i) => store.transition(p.id, { from: 'approved', to: 'committing', actor: `engine:worker-${i}`, set: { attempts: i + 1 } })));
      const oks = outs.filter((o) => o.kind === 'ok');
      assert.equal(oks.length, 1);
      assert.equal(outs.filter((o) => o.kind === 'stale').length, 9);
      for (const o of outs) if (o.kind === 'stale') assert.equal(o.current.state, 'committing');
      const after = await store.get(p.id);
      assert.equal(after?.revision, 2);
      const winner = oks[0];
      assert.ok(winner?.kind === 'ok');
      assert.equal(after?.attempts, winner.proposal.attempts, "only the winner's set was written");
      assert.equal((await store.events(p.id)).length, 2);
    });

    it('set: approvedChange, policy, result (with its Date), attempts, nextAttemptAt persisted; null clears nextAttemptAt; unset fields kept', async (store, fx) => {
      const p = await created(store, newProposalFixture({ state: 'approved', policy: { decision: 'auto' } }));
      const approved: ProposedChange = { kind: 'create', resource: { resourceType: 'Observation', status: 'final', valueQuantity: { value: 73 } } };
      const one = await store.transition(p.id, { from: 'approved', to: 'committing', actor: 'engine', set: { approvedChange: approved, attempts: 1, policy: { decision: 'auto', rule: 'vitals' } } });
      assert.equal(one.kind, 'ok');
      const two = await store.transition(p.id, { from: 'committing', to: 'retrying', actor: 'engine', reason: 'SWB_ERR_EHR_UNAVAILABLE', set: { nextAttemptAt: at(30_000) } });
      assert.equal(two.kind, 'ok');
      let got = await store.get(p.id);
      assert.deepEqual(got?.approvedChange, approved);
      assert.deepEqual(got?.policy, { decision: 'auto', rule: 'vitals' });
      assert.equal(got?.attempts, 1, 'kept when not set');
      assert.deepEqual(got?.nextAttemptAt, at(30_000));
      assert.equal(got?.result, undefined);

      fx.setNow(T0 + 31_000);
      await store.transition(p.id, { from: 'retrying', to: 'committing', actor: 'engine', set: { attempts: 2, nextAttemptAt: null } });
      const result = { resourceType: 'Observation', id: 'obs-77', versionId: '1', location: 'https://ehr.example/fhir/R4/Observation/obs-77/_history/1', at: new Date(T0 + 31_500) };
      const done = await store.transition(p.id, { from: 'committing', to: 'committed', actor: 'engine', set: { result } });
      assert.equal(done.kind, 'ok');
      got = await store.get(p.id);
      assert.ok(got !== undefined);
      assert.equal(got.nextAttemptAt, undefined, 'null cleared it');
      assert.equal('nextAttemptAt' in got, false);
      assert.equal(got.attempts, 2);
      assert.ok(got.result?.at instanceof Date, 'result.at comes back as a Date');
      assert.deepEqual(got.result, result);
      assert.deepEqual(got.approvedChange, approved, 'kept');
      assert.equal(got.revision, 5);
      assert.deepEqual(got.updatedAt, at(31_000));
      if (done.kind === 'ok') assert.deepEqual(done.proposal, got);
    });

    it('eventsBetween: all proposals, oldest first, [from, to), toStates, limit', async (store, fx) => {
      const a = await created(store, newProposalFixture({ idempotencyKey: 'a', state: 'approved' }));
      const b = await created(store, newProposalFixture({ idempotencyKey: 'b', state: 'approved' }));
      await store.transition(a.id, { from: 'approved', to: 'committing', actor: 'engine', at: at(1000) });
      await store.transition(b.id, { from: 'approved', to: 'committing', actor: 'engine', at: at(2000) });
      await store.transition(a.id, { from: 'committing', to: 'committed', actor: 'engine', at: at(3000) });
      await store.transition(a.id, { from: 'committed', to: 'drifted', actor: 'engine', at: at(4000) });
      await store.transition(b.id, { from: 'committing', to: 'committed', actor: 'engine', at: at(4000) });
      fx.setNow(T0 + 5000);
      await store.transition(b.id, { from: 'committed', to: 'verified', actor: 'engine' });

      const all = await store.eventsBetween({ from: at(0), to: at(10_000) });
      assert.deepEqual(all.map((e) => [e.proposalId, e.to, e.at.getTime() - T0]), [
        [a.id, 'approved', 0],
        [b.id, 'approved', 0],
        [a.id, 'committing', 1000],
        [b.id, 'committing', 2000],
        [a.id, 'committed', 3000],
        [a.id, 'drifted', 4000],
        [b.id, 'committed', 4000],
        [b.id, 'verified', 5000],
      ]);
      const window = await store.eventsBetween({ from: at(1000), to: at(4000) });
      assert.deepEqual(window.map((e) => e.at.getTime() - T0), [1000, 2000, 3000], 'from included, to excluded');
      const drift = await store.eventsBetween({ from: at(0), to: at(10_000), toStates: ['drifted', 'verified'] });
      assert.deepEqual(drift.map((e) => [e.proposalId, e.from, e.to]), [
        [a.id, 'committed', 'drifted'],
        [b.id, 'committed', 'verified'],
      ]);
      assert.deepEqual(await store.eventsBetween({ from: at(0), to: at(10_000), toStates: [] }), []);
      const limited = await store.eventsBetween({ from: at(0), to: at(10_000), limit: 3 });
      assert.deepEqual(limited, all.slice(0, 3));
      assert.deepEqual(await store.eventsBetween({ from: at(6000), to: at(10_000) }), []);
    });

    it('ledger: begin opens an entry, settle closes it once; forProposal oldest first; open lists unsettled entries', async (store, fx) => {
      const p = await created(store, newProposalFixture({ state: 'committing' }));
      const q = await created(store, newProposalFixture({ idempotencyKey: 'other', state: 'committing' }));
      fx.setNow(T0 + 1000);
      const e1 = await store.ledger.begin({ proposalId: p.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: `${p.id}:1`, request: 'POST https://ehr.example/fhir/R4/Observation' });
      assert.deepEqual(e1, {
        id: e1.id,
        proposalId: p.id,
        attempt: 1,
        ehr: 'epic-sim',
        idempotencyKey: `${p.id}:1`,
        request: 'POST https://ehr.example/fhir/R4/Observation',
        startedAt: at(1000),
        outcome: 'open',
      });
      const e2 = await store.ledger.begin({ proposalId: q.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: `${q.id}:1`, request: 'MLLP 127.0.0.1:2575', at: at(1500) });
      assert.deepEqual((await store.ledger.open()).map((e) => e.id), [e1.id, e2.id]);

      const response = { status: 503, outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', diagnostics: 'Dienst nicht verfügbar' }] } };
      const settled = await store.ledger.settle(e1.id, { outcome: 'not_applied', response, at: at(2000) });
      assert.deepEqual(settled, { ...e1, outcome: 'not_applied', settledAt: at(2000), response });
      await assert.rejects(store.ledger.settle(e1.id, { outcome: 'applied' }), { code: 'SWB_ERR_STORE_LEDGER_SETTLED' });
      assert.equal((await store.ledger.forProposal(p.id))[0]?.outcome, 'not_applied', 'the first answer stands');
      await assert.rejects(store.ledger.settle('no-such-entry', { outcome: 'applied' }), { code: 'SWB_ERR_STORE_NOT_FOUND' });
      await assert.rejects(
        store.ledger.begin({ proposalId: 'no-such-proposal', attempt: 1, ehr: 'epic-sim', idempotencyKey: 'x', request: 'POST x' }),
        { code: 'SWB_ERR_STORE_NOT_FOUND' },
      );

      fx.setNow(T0 + 3000);
      const e3 = await store.ledger.begin({ proposalId: p.id, attempt: 2, ehr: 'epic-sim', idempotencyKey: `${p.id}:2`, request: 'POST https://ehr.example/fhir/R4/Observation' });
      const result = { resourceType: 'Observation', id: 'obs-1', versionId: '1', location: 'Observation/obs-1/_history/1', at: at(3100) };
      const applied = await store.ledger.settle(e3.id, { outcome: 'applied', response: { status: 201 }, result });
      assert.deepEqual(applied.settledAt, at(3000), 'settledAt defaults to the clock');
      assert.ok(applied.result?.at instanceof Date);
      assert.deepEqual(applied.result, result);

      const forP = await store.ledger.forProposal(p.id);
      assert.deepEqual(forP.map((e) => [e.attempt, e.outcome]), [[1, 'not_applied'], [2, 'applied']]);
      assert.deepEqual(forP[1], applied);
      assert.deepEqual(await store.ledger.forProposal('no-such-proposal'), []);
      assert.deepEqual((await store.ledger.open()).map((e) => e.id), [e2.id]);

      const unknown = await store.ledger.settle(e2.id, { outcome: 'unknown', response: { error: 'ECONNRESET after send' } });
      assert.equal(unknown.outcome, 'unknown');
      assert.equal(unknown.result, undefined);
      assert.deepEqual(await store.ledger.open(), []);
      await assert.rejects(store.ledger.settle(e2.id, { outcome: 'open' as never }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
    });

    it('list order oldest: createdAt ascending, then id; with dueBefore by due time; the cursor continues in that order', async (store, fx) => {
      const made: Proposal[] = [];
      for (let i = 0; i < 5; i++) {
        fx.setNow(T0 + (i < 2 ? 0 : i * 1000));
        made.push(await created(store, newProposalFixture({ idempotencyKey: `o-${i}`, state: 'approved' })));
      }
      const byCreation = [...made].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((p) => p.id);
      assert.deepEqual((await store.list({ states: ['approved'], order: 'oldest' })).items.map((p) => p.id), byCreation);
      assert.deepEqual((await store.list({ states: ['approved'] })).items.map((p) => p.id), [...byCreation].reverse(), 'newest is the default');
      const paged: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ states: ['approved'], order: 'oldest', limit: 2, ...(cursor === undefined ? {} : { cursor }) });
        paged.push(...page.items.map((p) => p.id));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      assert.deepEqual(paged, byCreation, 'no duplicates or gaps across pages');

      // Retries fall due in another order than they were created: the longest-waiting comes first.
      const due = [made[4], made[2], made[3]] as Proposal[];
      for (const [i, p] of due.entries()) {
        assert.equal((await store.transition(p.id, { from: 'approved', to: 'retrying', actor: 'engine', at: at(10_000), set: { nextAttemptAt: at(20_000 + i * 1000) } })).kind, 'ok');
      }
      const dueOrder = async (limit: number): Promise<string[]> => {
        const out: string[] = [];
        let c: string | undefined;
        do {
          const page = await store.list({ states: ['retrying'], dueBefore: at(60_000), order: 'oldest', limit, ...(c === undefined ? {} : { cursor: c }) });
          out.push(...page.items.map((p) => p.id));
          c = page.nextCursor;
        } while (c !== undefined);
        return out;
      };
      assert.deepEqual(await dueOrder(10), due.map((p) => p.id));
      assert.deepEqual(await dueOrder(1), due.map((p) => p.id), 'paged by due time');
      await assert.rejects(store.list({ order: 'sideways' as never }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
    });

    it('lease: set with the move to committing, renewed only by its owner, taken over only when expired, cleared on leaving committing; leaseOwner guards a transition', async (store) => {
      const p = await created(store, newProposalFixture({ state: 'approved' }));
      const claim = await store.transition(p.id, { from: 'approved', to: 'committing', actor: 'engine', at: at(1000), set: { attempts: 1, lease: { owner: 'proc-a', until: at(31_000) } } });
      assert.equal(claim.kind, 'ok');
      assert.equal(claim.kind === 'ok' && claim.proposal.leaseOwner, 'proc-a');
      assert.deepEqual(claim.kind === 'ok' && claim.proposal.leaseUntil, at(31_000));
      assert.deepEqual((await store.get(p.id))?.leaseUntil, at(31_000));

      const expiredAt = async (ms: number): Promise<string[]> => (await store.list({ states: ['committing'], leaseExpiredBefore: at(ms) })).items.map((x) => x.id);
      assert.deepEqual(await expiredAt(30_999), [], 'a live lease is not listed as expired');
      assert.deepEqual(await expiredAt(31_000), [p.id]);

      assert.equal(await store.renewLease(p.id, { owner: 'proc-b', until: at(90_000), now: at(2000), takeOverExpired: true }), false, 'a live lease is not taken over');
      assert.equal(await store.renewLease(p.id, { owner: 'proc-b', until: at(90_000), now: at(40_000) }), false, 'without takeOverExpired only the owner renews');
      assert.equal(await store.renewLease(p.id, { owner: 'proc-a', until: at(61_000), now: at(2000) }), true, 'the owner renews');
      assert.deepEqual(await expiredAt(40_000), [], 'renewed');
      assert.equal(await store.renewLease(p.id, { owner: 'proc-b', until: at(120_000), now: at(61_000), takeOverExpired: true }), true, 'an expired lease is taken over');
      assert.equal((await store.get(p.id))?.leaseOwner, 'proc-b');

      const wrong = await store.transition(p.id, { from: 'committing', to: 'committed', actor: 'engine', leaseOwner: 'proc-a' });
      assert.equal(wrong.kind, 'stale', 'the old owner cannot finish a claim it lost');
      const done = await store.transition(p.id, { from: 'committing', to: 'retrying', actor: 'engine', leaseOwner: 'proc-b', set: { nextAttemptAt: at(62_000) } });
      assert.equal(done.kind, 'ok');
      assert.equal(done.kind === 'ok' ? done.proposal.leaseOwner : 'x', undefined, 'leaving committing clears the lease');
      assert.equal(done.kind === 'ok' ? done.proposal.leaseUntil : 'x', undefined);
      assert.equal(await store.renewLease(p.id, { owner: 'proc-b', until: at(200_000), takeOverExpired: true }), false, 'no lease outside committing');
      await assert.rejects(store.transition(p.id, { from: 'retrying', to: 'failed', actor: 'engine', set: { lease: { owner: 'x', until: at(1) } } }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
    });

    it('transition settles a ledger entry in the same write; a settled entry fails the whole transition', async (store, fx) => {
      const p = await created(store, newProposalFixture({ state: 'committing' }));
      fx.setNow(T0 + 1000);
      const e = await store.ledger.begin({ proposalId: p.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: p.id, request: 'POST x' });
      const result = { resourceType: 'Observation', id: 'obs-9', versionId: '1', at: at(1100) };
      const moved = await store.transition(p.id, { from: 'committing', to: 'committed', actor: 'engine', at: at(1200), set: { result }, settle: { entryId: e.id, outcome: 'applied', response: { status: 201 }, result } });
      assert.equal(moved.kind, 'ok');
      const [entry] = await store.ledger.forProposal(p.id);
      assert.deepEqual(entry, { ...e, outcome: 'applied', settledAt: at(1200), response: { status: 201 }, result });

      const q = await created(store, newProposalFixture({ idempotencyKey: 'q', state: 'committing' }));
      const f = await store.ledger.begin({ proposalId: q.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: q.id, request: 'POST x' });
      await store.ledger.settle(f.id, { outcome: 'unknown' });
      await assert.rejects(store.transition(q.id, { from: 'committing', to: 'committed', actor: 'engine', settle: { entryId: f.id, outcome: 'applied' } }), { code: 'SWB_ERR_STORE_LEDGER_SETTLED' });
      const after = await store.get(q.id);
      assert.equal(after?.state, 'committing', 'rolled back: the state did not move');
      assert.equal((await store.events(q.id)).length, 1, 'no event appended');
      await assert.rejects(store.transition(q.id, { from: 'committing', to: 'committed', actor: 'engine', settle: { entryId: e.id, outcome: 'applied' } }), { code: 'SWB_ERR_STORE_LEDGER_SETTLED' }, "another proposal's entry is refused");
    });

    it('writes issued together (one turn, as a group-committing store batches them): each is all-or-nothing on its own; one refused leaves the others', async (store) => {
      const settled = await created(store, newProposalFixture({ idempotencyKey: 'g-settled', state: 'committing' }));
      const stale = await store.ledger.begin({ proposalId: settled.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: settled.id, request: 'POST x' });
      await store.ledger.settle(stale.id, { outcome: 'unknown' });
      const claim = await created(store, newProposalFixture({ idempotencyKey: 'g-claim', state: 'approved' }));
      const finish = await created(store, newProposalFixture({ idempotencyKey: 'g-finish', state: 'committing' }));
      const open = await store.ledger.begin({ proposalId: finish.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: finish.id, request: 'POST x' });
      const result = { resourceType: 'Observation', id: 'obs-g', at: at(50) };
      const outs = await Promise.allSettled([
        store.transition(settled.id, { from: 'committing', to: 'committed', actor: 'engine', settle: { entryId: stale.id, outcome: 'applied' } }),
        store.transition(claim.id, { from: 'approved', to: 'committing', actor: 'engine', set: { attempts: 1 } }),
        store.ledger.begin({ proposalId: claim.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: claim.id, request: 'POST y' }),
        store.transition(finish.id, { from: 'committing', to: 'committed', actor: 'engine', set: { result }, settle: { entryId: open.id, outcome: 'applied', result } }),
        store.create(newProposalFixture({ idempotencyKey: 'g-new' })),
        store.transition(claim.id, { from: 'pending_review', to: 'rejected', actor: 'engine' }),
      ]);
      assert.equal(outs[0]?.status, 'rejected');
      assert.equal((outs[0] as PromiseRejectedResult).reason?.code, 'SWB_ERR_STORE_LEDGER_SETTLED');
      for (const i of [1, 2, 3, 4, 5]) assert.equal(outs[i]?.status, 'fulfilled', `write ${i} stands`);
      assert.equal((outs[5] as PromiseFulfilledResult<{ kind: string }>).value.kind, 'stale', 'a compare-and-set that does not hold is stale, and harms nothing');
      assert.equal((await store.get(settled.id))?.state, 'committing', 'the refused transition was rolled back alone');
      assert.equal((await store.events(settled.id)).length, 1);
      assert.equal((await store.get(claim.id))?.state, 'committing');
      assert.deepEqual((await store.ledger.forProposal(claim.id)).map((e) => e.request), ['POST y']);
      assert.equal((await store.get(finish.id))?.state, 'committed');
      assert.equal((await store.ledger.forProposal(finish.id))[0]?.outcome, 'applied');
      assert.equal((await store.list({ states: ['pending_review'] })).items.some((p) => p.idempotencyKey === 'g-new'), true);
    });

    it('drift checks: counted per EHR and day, added up across calls', async (store) => {
      assert.deepEqual(await store.driftChecks('epic-sim', '2026-03-01'), { checked: 0, errors: 0 });
      await store.recordDriftChecks({ ehr: 'epic-sim', day: '2026-03-01', checked: 3, errors: 1 });
      await store.recordDriftChecks({ ehr: 'epic-sim', day: '2026-03-01', checked: 2, errors: 0 });
      await store.recordDriftChecks({ ehr: 'epic-sim', day: '2026-03-02', checked: 7, errors: 0 });
      await store.recordDriftChecks({ ehr: 'oracle-sim', day: '2026-03-01', checked: 1, errors: 2 });
      assert.deepEqual(await store.driftChecks('epic-sim', '2026-03-01'), { checked: 5, errors: 1 });
      assert.deepEqual(await store.driftChecks('epic-sim', '2026-03-02'), { checked: 7, errors: 0 });
      assert.deepEqual(await store.driftChecks('oracle-sim', '2026-03-01'), { checked: 1, errors: 2 });
      await assert.rejects(store.recordDriftChecks({ ehr: 'epic-sim', day: 'March 1', checked: 1, errors: 0 }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
    });
  });
}
