import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import { PROPOSAL_STATES, type ProposalState } from '../core/ports/proposal-store.ts';
import { assertTransition, canTransition, TERMINAL_STATES } from './proposal-transitions.ts';

// The table of the issue 6 contract (docs/writeback.md "States"), written out independently of the implementation's table.
const LEGAL: ReadonlyArray<readonly [ProposalState, ProposalState]> = [
  ['proposed', 'rejected_by_policy'],
  ['proposed', 'pending_review'],
  ['proposed', 'approved'],
  ['pending_review', 'approved'],
  ['pending_review', 'rejected'],
  ['pending_review', 'pending_review'],
  ['approved', 'committing'],
  ['committing', 'committed'],
  ['committing', 'retrying'],
  ['committing', 'failed'],
  ['committing', 'unknown'],
  ['committing', 'conflict'],
  ['retrying', 'committing'],
  ['committed', 'verified'],
  ['committed', 'drifted'],
  ['verified', 'drifted'],
  ['failed', 'approved'],
  ['failed', 'rejected'],
  ['unknown', 'committed'],
  ['unknown', 'approved'],
  ['unknown', 'rejected'],
  ['conflict', 'pending_review'],
  ['conflict', 'rejected'],
  ['drifted', 'verified'],
];

void test('exactly the transitions of the contract are legal (all 169 pairs checked)', () => {
  const legal = new Set(LEGAL.map(([f, t]) => `${f}>${t}`));
  assert.equal(PROPOSAL_STATES.length, 13);
  let allowed = 0;
  for (const from of PROPOSAL_STATES) {
    for (const to of PROPOSAL_STATES) {
      const expected = legal.has(`${from}>${to}`);
      assert.equal(canTransition(from, to), expected, `${from} -> ${to}`);
      if (expected) allowed++;
    }
  }
  assert.equal(allowed, LEGAL.length);
});

void test('assertTransition throws the stable 409 code with from and to', () => {
  assert.doesNotThrow(() => assertTransition('proposed', 'pending_review'));
  assert.throws(
    () => assertTransition('proposed', 'committing'),
    (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_WRITEBACK_INVALID_TRANSITION' && e.httpStatus === 409 && e.failureClass === 'permanent' && e.params['from'] === 'proposed' && e.params['to'] === 'committing' && e.message.includes('proposed') && e.message.includes('committing'),
  );
  // An ambiguous outcome must never go straight back to committing (invariant 2: no blind retry).
  assert.throws(() => assertTransition('unknown', 'committing'), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_WRITEBACK_INVALID_TRANSITION');
});

void test('terminal states are rejected_by_policy and rejected, and have no way out', () => {
  assert.deepEqual([...TERMINAL_STATES].sort(), ['rejected', 'rejected_by_policy']);
  for (const from of TERMINAL_STATES) for (const to of PROPOSAL_STATES) assert.equal(canTransition(from, to), false, `${from} -> ${to}`);
  // Every other state has a way out.
  for (const s of PROPOSAL_STATES) if (!TERMINAL_STATES.has(s)) assert.ok(PROPOSAL_STATES.some((t) => canTransition(s, t)), s);
});
