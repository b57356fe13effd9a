import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../src/core/ports/store.ts';
import { loadChannelText } from '../src/engine/channel-loader.ts';
import { createChannelReceiver } from '../src/engine/channel-runtime.ts';
import { applyChannels } from '../src/engine/operations.ts';
import { openStore } from '../src/store/open-store.ts';

/**
 * A store with history for the operations tests (engine, API, CLI): channel `adt-in` applied at
 * revision 1, four messages received through the real channel runtime under it, deliveries taken
 * through the real queue (one failed, one ambiguous, the rest delivered or waiting), then revision 2
 * applied. Written here for these tests; ZZ names are markers that must never reach a log.
 */

/** Revision 1: every message to `lab`, ADT^A01 also to `ehr`. */
export const CHANNEL_V1 = `id: adt-in
source: {kind: mllp, settings: {port: 0}}
destinations:
  - name: lab
    kind: file
    settings: {dir: ./out/lab}
    retry: {maxAttempts: 3}
  - name: ehr
    kind: file
    when: {messageType: 'ADT^A01'}
    settings: {dir: ./out/ehr}
`;

/** Revision 2: A08 filtered; lab gets ward WARD-B; ehr gone; a new `archive` destination. */
export const CHANNEL_V2 = `id: adt-in
source: {kind: mllp, settings: {port: 0}}
filters:
  - reject: {messageType: 'ADT^A08'}
    reason: A08 not wanted
destinations:
  - name: lab
    kind: file
    settings: {dir: ./out/lab}
    retry: {maxAttempts: 3}
    transformers:
      - set: {path: PV1-3.1, value: WARD-B}
  - name: archive
    kind: file
    ordering: none
    settings: {dir: ./out/archive}
`;

const hl7 = (type: string, controlId: string, mrn: string, family: string): string =>
  [`MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305100000+0000||${type}|${controlId}|P|2.5.1`, `PID|1||${mrn}^^^H^MR||${family}^JANE`, 'PV1|1|I|WARD-A'].join('\r');

export const MESSAGES = [
  { key: 'm1', content: hl7('ADT^A01', 'CTL-1', 'MRN-1', 'ZZALPHA'), at: '2024-03-05T10:00:00.000Z' },
  { key: 'm2', content: hl7('ADT^A01', 'CTL-2', 'MRN-2', 'ZZBRAVO'), at: '2024-03-05T10:01:00.000Z' },
  { key: 'm3', content: hl7('ADT^A08', 'CTL-3', 'MRN-1', 'ZZCHARLIE'), at: '2024-03-05T10:02:00.000Z' },
  { key: 'm4', content: hl7('ORU^R01', 'CTL-4', 'MRN-3', 'ZZDELTA'), at: '2024-03-05T10:03:00.000Z' },
] as const;

export type MessageKey = (typeof MESSAGES)[number]['key'];

export interface OpsFixture {
  /** The channel directory (revision 2's file is in it). */
  readonly channelDir: string;
  readonly url: string;
  readonly messageIds: Record<MessageKey, string>;
  /** m1's lab delivery: failed (permanent). */
  readonly failedLab: string;
  /** m2's ehr delivery: ambiguous. */
  readonly ambiguousEhr: string;
  /** m3's lab delivery: pending, blocked behind m1's on key MRN-1. */
  readonly pendingLab: string;
}

export async function seedOpsStore(dir: string): Promise<OpsFixture> {
  const channelDir = join(dir, 'channels');
  mkdirSync(channelDir, { recursive: true });
  const url = `sqlite:${join(dir, 'store.db')}`;
  const store: Store = await openStore(url);
  try {
    const v1 = await loadChannelText(CHANNEL_V1, join(channelDir, 'adt-in.yaml'), channelDir);
    await applyChannels(store, [v1], 'test:seed');
    const receiver = createChannelReceiver({ config: v1.config, revision: 1, pipeline: v1.pipeline, ingest: (r) => store.messages.ingest(r) });
    const messageIds = {} as Record<MessageKey, string>;
    for (const m of MESSAGES) {
      const r = await receiver.receive({ content: m.content, contentType: 'hl7v2', source: 'mllp://10.0.0.5:50312', receivedAt: new Date(m.at) });
      assert.equal(r.kind, 'accepted');
      if (r.kind === 'accepted') messageIds[m.key] = r.messageId;
    }
    const deliveryOf = async (key: MessageKey, name: string): Promise<string> => {
      const d = (await store.queue.forMessage(messageIds[key])).find((x) => x.destination === `adt-in/${name}`);
      assert.ok(d, `${key} has a ${name} delivery`);
      return d.id;
    };
    const t = { startedAt: new Date(), finishedAt: new Date() };
    // lab: m1, m2, m4 are first of their keys; m3 waits behind m1 (MRN-1).
    const lab = await store.queue.claim({ destination: 'adt-in/lab', owner: 'seed', leaseMs: 60_000, limit: 10 });
    assert.equal(lab.length, 3);
    for (const d of lab) {
      if (d.messageId === messageIds.m1) await store.queue.fail(d.id, 'seed', { ...t, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'permanent', response: 'HTTP/1.1 400' });
      else await store.queue.complete(d.id, 'seed', t);
    }
    const ehr = await store.queue.claim({ destination: 'adt-in/ehr', owner: 'seed', leaseMs: 60_000, limit: 10 });
    assert.equal(ehr.length, 2);
    for (const d of ehr) {
      if (d.messageId === messageIds.m2) await store.queue.fail(d.id, 'seed', { ...t, errorCode: 'SWB_ERR_HTTP_DEST_TIMEOUT', failureClass: 'ambiguous' });
      else await store.queue.complete(d.id, 'seed', t);
    }
    writeFileSync(join(channelDir, 'adt-in.yaml'), CHANNEL_V2);
    const v2 = await loadChannelText(CHANNEL_V2, join(channelDir, 'adt-in.yaml'), channelDir);
    await applyChannels(store, [v2], 'test:seed');
    return { channelDir, url, messageIds, failedLab: await deliveryOf('m1', 'lab'), ambiguousEhr: await deliveryOf('m2', 'ehr'), pendingLab: await deliveryOf('m3', 'lab') };
  } finally {
    await store.close();
  }
}
