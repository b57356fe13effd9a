import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import type { Store } from '../core/ports/store.ts';
import { openStore } from '../store/open-store.ts';
import { seedOpsStore, type OpsFixture } from '../../test/ops-fixture.ts';
import { tempDir } from '../../test/cli-helpers.ts';
import { loadChannelText } from './channel-loader.ts';
import {
  applyChannels,
  planReplay,
  resolveDeliveries,
  resolveDelivery,
  retryDeliveries,
  retryDelivery,
  revisionDiff,
  runReplay,
  type ReplayMessagePlan,
  type ReplayPorts,
} from './operations.ts';
import { revisionPipelines } from './revision-pipelines.ts';

let dir: string;
let fx: OpsFixture;
let store: Store;
let woken: string[];
let ports: ReplayPorts;

beforeEach(async () => {
  dir = tempDir('swb-ops-');
  fx = await seedOpsStore(dir);
  store = await openStore(fx.url);
  woken = [];
  ports = { messages: store.messages, queue: store.queue, channels: store.channels, audit: store.audit, notify: (d) => woken.push(d), pipelineFor: revisionPipelines(store.channels, { baseDir: fx.channelDir }) };
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e) => isSwitchboardError(e) && e.code === code);
}

test('retry puts an exception back to pending, records a retried event and an audit entry, and wakes its destination', async () => {
  const r = await retryDelivery(ports, fx.failedLab, { actor: 'user:ann' });
  assert.deepEqual(r, { deliveryId: fx.failedLab, messageId: fx.messageIds.m1, destination: 'adt-in/lab', previousStatus: 'failed', status: 'pending' });
  const d = await store.queue.get(fx.failedLab);
  assert.equal(d?.status, 'pending');
  assert.equal(d?.attempts, 0);
  const events = await store.messages.events(fx.messageIds.m1);
  assert.deepEqual(events.at(-1)?.type, 'retried');
  assert.equal(events.at(-1)?.deliveryId, fx.failedLab);
  const [audit] = await store.audit.list({ action: 'delivery.retry' });
  assert.equal(audit?.actor, 'user:ann');
  assert.equal(audit?.target, fx.failedLab);
  assert.equal(audit?.detail['lastErrorCode'], 'SWB_ERR_HTTP_DEST_STATUS');
  assert.deepEqual(woken, ['adt-in/lab']);
  // Now pending: a second retry is refused with the typed 409.
  await rejectsWith(retryDelivery(ports, fx.failedLab, { actor: 'user:ann' }), 'SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS');
  await rejectsWith(retryDelivery(ports, fx.pendingLab, { actor: 'user:ann' }), 'SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS');
  await rejectsWith(retryDelivery(ports, '01NOSUCHDELIVERY', { actor: 'user:ann' }), 'SWB_ERR_STORE_NOT_FOUND');
});

test('edit-and-retry stores the new payload; the audit keeps its length and sha256, never the payload', async () => {
  const before = await store.queue.get(fx.failedLab);
  const edited = (before?.payload ?? '').replace('WARD-A', 'WARD-ZZEDIT');
  await retryDelivery(ports, fx.failedLab, { actor: 'user:ann', payload: edited });
  assert.equal((await store.queue.get(fx.failedLab))?.payload, edited);
  const [audit] = await store.audit.list({ action: 'delivery.edit-retry' });
  assert.ok(audit);
  assert.equal(audit.detail['payloadBytes'], Buffer.byteLength(edited));
  assert.equal(audit.detail['payloadSha256'], createHash('sha256').update(edited).digest('hex'));
  const everything = JSON.stringify([await store.audit.list(), await store.messages.events(fx.messageIds.m1)]);
  assert.doesNotMatch(everything, /ZZ[A-Z]*\^|WARD-|MRN-/, 'no payload or patient data in the audit log or history');
});

test('resolve closes an ambiguous delivery; a resolved failed head unblocks the delivery behind it', async () => {
  const r = await resolveDelivery(ports, fx.ambiguousEhr, { actor: 'user:bob', reason: 'confirmed received by phone' });
  assert.equal(r.previousStatus, 'ambiguous');
  assert.equal((await store.queue.get(fx.ambiguousEhr))?.status, 'resolved');
  assert.equal((await store.messages.events(fx.messageIds.m2)).at(-1)?.type, 'resolved');
  const [audit] = await store.audit.list({ action: 'delivery.resolve' });
  assert.equal(audit?.detail['reason'], 'confirmed received by phone');

  // m3's lab delivery waits behind m1's failed one on key MRN-1 (invariant 4) until it is resolved.
  assert.deepEqual(await store.queue.claim({ destination: 'adt-in/lab', owner: 't', leaseMs: 1000, limit: 10 }), []);
  await resolveDelivery(ports, fx.failedLab, { actor: 'user:bob' });
  const claimed = await store.queue.claim({ destination: 'adt-in/lab', owner: 't', leaseMs: 1000, limit: 10 });
  assert.deepEqual(claimed.map((d) => d.id), [fx.pendingLab]);
  await rejectsWith(resolveDelivery(ports, fx.failedLab, { actor: 'user:bob' }), 'SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS');
});

test('bulk retry by destination and bulk resolve by ids report per item, and wake each destination once', async () => {
  const byDest = await retryDeliveries(ports, { destination: 'adt-in/ehr', limit: 10 }, { actor: 'user:ann' });
  assert.deepEqual(byDest.items.map((i) => [i.id, i.kind]), [[fx.ambiguousEhr, 'ok']]);
  assert.deepEqual(woken, ['adt-in/ehr']);
  const byIds = await resolveDeliveries(ports, { ids: [fx.failedLab, fx.pendingLab, 'nope'], limit: 10 }, { actor: 'user:ann' });
  assert.deepEqual(
    byIds.items.map((i) => [i.id, i.kind === 'ok' ? 'ok' : i.code]),
    [
      [fx.failedLab, 'ok'],
      [fx.pendingLab, 'SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS'],
      ['nope', 'SWB_ERR_STORE_NOT_FOUND'],
    ],
  );
  assert.equal(byIds.ok, 1);
  assert.equal(byIds.failed, 2);
  assert.deepEqual(await store.queue.exceptions(), []);
  const limited = await retryDeliveries(ports, { ids: [fx.failedLab, fx.ambiguousEhr], limit: 1 }, { actor: 'user:ann' });
  assert.equal(limited.items.length, 1);
});

/** Everything a replay could change: deliveries (with payloads) and events of every message, statuses. */
async function snapshot(): Promise<string> {
  const out: unknown[] = [];
  for (const id of Object.values(fx.messageIds)) {
    out.push(await store.messages.get(id), await store.queue.forMessage(id), await store.messages.events(id));
  }
  return JSON.stringify(out);
}

const byControl = (plans: readonly ReplayMessagePlan[]): Record<string, ReplayMessagePlan> => Object.fromEntries(plans.map((p) => [p.controlId ?? '', p]));

test('dry run under the current revision: changed with a diff, new, not routed, filtered; nothing written but one audit entry', async () => {
  const before = await snapshot();
  const auditBefore = (await store.audit.list()).length;
  const plan = await planReplay(ports, { query: { channelId: 'adt-in' }, revision: 'current', actor: 'user:ann' });
  assert.equal(await snapshot(), before, 'the dry run changed no message, delivery or event');
  const audit = await store.audit.list();
  assert.equal(audit.length, auditBefore + 1);
  assert.equal(audit[0]?.action, 'replay.dry-run');
  assert.equal(audit[0]?.detail['changed'], 3);

  assert.deepEqual(plan.messages.map((m) => m.controlId), ['CTL-1', 'CTL-2', 'CTL-3', 'CTL-4'], 'oldest first');
  const p = byControl(plan.messages);
  assert.equal(p['CTL-3']?.kind, 'filtered');
  assert.equal(p['CTL-3']?.kind === 'filtered' ? p['CTL-3'].reason : '', 'A08 not wanted');
  const m1 = p['CTL-1'];
  assert.ok(m1?.kind === 'routed');
  assert.equal(m1.revision, 2);
  assert.deepEqual(m1.destinations.map((d) => [d.destination, d.kind]), [['lab', 'changed'], ['archive', 'new'], ['ehr', 'not-routed']]);
  const lab = m1.destinations[0];
  assert.ok(lab?.kind === 'changed');
  assert.match(lab.diff, /^--- lab delivery \w+\n\+\+\+ lab replay \(revision 2\)\n@@ -1,3 \+1,3 @@\n MSH\|.*\n PID\|.*\n-PV1\|1\|I\|WARD-A\n\+PV1\|1\|I\|WARD-B$/);
  assert.deepEqual(plan.counts, { messages: 4, routed: 3, filtered: 1, errors: 0, pruned: 0, unchanged: 0, changed: 3, new: 3, notRouted: 2, deliveries: 6 });
  assert.equal(plan.truncated, false);
});

test('dry run under the pinned revision is unchanged, except a payload an operator edited', async () => {
  const failed = await store.queue.get(fx.failedLab);
  await retryDelivery(ports, fx.failedLab, { actor: 'user:ann', payload: `${failed?.payload ?? ''}\rNTE|1||edited` });
  const plan = await planReplay(ports, { query: {}, revision: 'pinned', actor: 'user:ann' });
  const p = byControl(plan.messages);
  assert.ok(p['CTL-1']?.kind === 'routed');
  assert.equal(p['CTL-1'].revision, 1);
  assert.deepEqual(p['CTL-1'].destinations.map((d) => [d.destination, d.kind]), [['lab', 'changed'], ['ehr', 'unchanged']]);
  const lab = p['CTL-1'].destinations[0];
  assert.ok(lab?.kind === 'changed');
  assert.match(lab.diff, /\n-NTE\|1\|\|edited$/);
  assert.deepEqual({ ...plan.counts }, { messages: 4, routed: 4, filtered: 0, errors: 0, pruned: 0, unchanged: 5, changed: 1, new: 0, notRouted: 0, deliveries: 6 });
});

test('replay run enqueues fresh deliveries oldest first with keys and ordering, records events and one audit entry', async () => {
  const result = await runReplay(ports, { query: { channelId: 'adt-in', patientId: 'MRN-1' }, revision: 'current', destinations: ['lab', 'archive'], actor: 'user:ann' });
  // MRN-1: m1 (routed) and m3 (filtered by revision 2).
  assert.deepEqual(result.enqueued.map((e) => e.messageId), [fx.messageIds.m1]);
  const deliveries = await store.queue.forMessage(fx.messageIds.m1);
  const fresh = deliveries.filter((d) => result.enqueued[0]?.deliveryIds.includes(d.id));
  assert.deepEqual(fresh.map((d) => [d.destination, d.status, d.orderingKey, d.maxAttempts]), [
    ['adt-in/lab', 'pending', 'MRN-1', 3],
    ['adt-in/archive', 'pending', undefined, 5],
  ]);
  assert.match(fresh[0]?.idempotencyKey ?? '', /^replay-\w{26}\/lab$/);
  assert.notEqual(fresh[0]?.idempotencyKey, deliveries[0]?.idempotencyKey);
  assert.match(fresh[0]?.payload ?? '', /PV1\|1\|I\|WARD-B/);
  assert.equal((await store.messages.get(fx.messageIds.m1))?.status, 'queued');
  const replayed = (await store.messages.events(fx.messageIds.m1)).filter((e) => e.type === 'replayed');
  assert.deepEqual(replayed.map((e) => e.detail), [{ runId: result.runId, actor: 'user:ann', revision: 2, destinations: 2 }]);
  assert.deepEqual((await store.messages.events(fx.messageIds.m3)).filter((e) => e.type === 'replayed'), []);
  const [audit] = await store.audit.list({ action: 'replay.run' });
  assert.equal(audit?.detail['patientId'], 'MRN-1');
  assert.equal(audit?.detail['deliveries'], 2);
  assert.equal(audit?.detail['filtered'], 1);
  assert.deepEqual(woken.sort(), ['adt-in/archive', 'adt-in/lab']);

  // Two replays of the same message make distinct keys (a deduping destination must not drop the second).
  const again = await runReplay(ports, { query: { controlId: 'CTL-1' }, revision: 'current', destinations: ['lab'], actor: 'user:ann' });
  const keys = (await store.queue.forMessage(fx.messageIds.m1)).filter((d) => d.destination === 'adt-in/lab').map((d) => d.idempotencyKey);
  assert.equal(new Set(keys).size, 3);
  assert.equal(again.counts.deliveries, 1);
});

test('a destination name no replayed revision has is refused before anything is enqueued', async () => {
  const before = await snapshot();
  await rejectsWith(runReplay(ports, { query: {}, revision: 'current', destinations: ['ehr'], actor: 'user:ann' }), 'SWB_ERR_REPLAY_UNKNOWN_DESTINATION');
  assert.equal(await snapshot(), before);
});

test('pruned content cannot be replayed; a missing revision is an error; limit truncates to the newest', async () => {
  await store.messages.pruneContent({ channelId: 'adt-in', receivedBefore: new Date('2024-03-05T10:00:30.000Z'), statuses: ['errored', 'queued', 'delivered'] });
  const plan = await planReplay(ports, { query: {}, revision: 'current', actor: 'user:ann' });
  assert.equal(byControl(plan.messages)['CTL-1']?.kind, 'pruned');
  assert.equal(plan.counts.pruned, 1);

  const noChannel = await planReplay({ ...ports, pipelineFor: (id) => revisionPipelines(store.channels, { baseDir: fx.channelDir })(`${id}-gone`, 'current') }, { query: {}, revision: 'current', actor: 'x' });
  assert.deepEqual(new Set(noChannel.messages.map((m) => (m.kind === 'error' ? m.errorCode : m.kind))), new Set(['pruned', 'SWB_ERR_STORE_NOT_FOUND']));

  const limited = await planReplay(ports, { query: {}, limit: 2, revision: 'current', actor: 'x' });
  assert.deepEqual(limited.messages.map((m) => m.controlId), ['CTL-3', 'CTL-4']);
  assert.equal(limited.truncated, true);
});

test('replay pages through every match past the store page size', async () => {
  const n = 520;
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      store.messages.ingest({ channelId: 'bulk', content: `x${i}`, contentType: 'text', receivedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, i)), source: 'test', correlationId: `c${i}`, configRevision: 1, patientIds: [] }),
    ),
  );
  const plan = await planReplay({ ...ports, pipelineFor: () => Promise.reject(new Error('no channel')) }, { query: { channelId: 'bulk' }, revision: 'current', actor: 'x' });
  assert.equal(plan.counts.messages, n);
  assert.equal(plan.counts.errors, n);
  assert.equal(new Set(plan.messages.map((m) => m.messageId)).size, n);
  assert.equal(plan.truncated, false);
  const cut = await planReplay({ ...ports, pipelineFor: () => Promise.reject(new Error('no channel')) }, { query: { channelId: 'bulk' }, limit: 505, revision: 'current', actor: 'x' });
  assert.equal(cut.counts.messages, 505);
  assert.equal(cut.truncated, true);
});

test('revision diff and apply: an unchanged apply stores nothing; each apply is audited with revision numbers', async () => {
  const d = await revisionDiff(store, 'adt-in', 1, 2);
  assert.match(d.diff, /^--- adt-in revision 1\n\+\+\+ adt-in revision 2\n/);
  assert.match(d.diff, /\n\+ *reason: A08 not wanted\n/);
  assert.match(d.diff, /\n- *(- )?name: ehr\n/);
  assert.equal((await revisionDiff(store, 'adt-in', 2, 2)).diff, '');
  await rejectsWith(revisionDiff(store, 'adt-in', 1, 9), 'SWB_ERR_STORE_NOT_FOUND');

  const v2 = await loadChannelText((await store.channels.get('adt-in', 2))?.document ?? '', join(fx.channelDir, 'adt-in.yaml'), fx.channelDir);
  const [same] = await applyChannels(store, [v2], 'cli:ann');
  assert.deepEqual(same, { channelId: 'adt-in', kind: 'unchanged', revision: 2, previous: 2 });
  const v3 = await loadChannelText(`${v2.document}description: three\n`, join(fx.channelDir, 'adt-in.yaml'), fx.channelDir);
  const [created] = await applyChannels(store, [v3], 'cli:ann');
  assert.deepEqual(created, { channelId: 'adt-in', kind: 'created', revision: 3, previous: 2 });
  const audit = await store.audit.list({ action: 'channel.apply', target: 'adt-in' });
  assert.deepEqual(audit.slice(0, 2).map((a) => [a.actor, a.detail['result'], a.detail['revision'], a.detail['previous']]), [
    ['cli:ann', 'created', 3, 2],
    ['cli:ann', 'unchanged', 2, 2],
  ]);
  assert.equal((await store.channels.latest('adt-in'))?.author, 'cli:ann');
});
