import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startListenerService } from '../src/api/listener-service.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';

// Written here for this test.
const adt = (id: string, mrn: string, pid3 = `${mrn}^^^HOSP^MR`): string =>
  [`MSH|^~\\&|REG|HOSP|SWB|HOSP|20240305103000||ADT^A08^ADT_A01|${id}|P|2.5.1`, 'EVN|A08|20240305103000', `PID|1||${pid3}||DOE^JANE||19800101|F`, 'PV1|1|I'].join('\r');

interface Target {
  readonly name: string;
  readonly open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>;
  readonly skip?: string;
}

const pgUrl = process.env['SWITCHBOARD_PG_URL'];
const targets: Target[] = [
  {
    name: 'SQLite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'swb-durable-'));
      const store = await openStore(`sqlite:${join(dir, 'db.sqlite')}`);
      return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    ...(pgUrl === undefined ? { skip: 'SWITCHBOARD_PG_URL is not set' } : {}),
    open: async () => {
      const schema = `swb_durable_${Math.random().toString(16).slice(2, 10)}`;
      const store = await openStore(`${pgUrl ?? ''}?schema=${schema}`);
      const { dropPostgresSchema } = await import('../src/store/postgres/open-postgres-store.ts');
      return { store, cleanup: async () => dropPostgresSchema(pgUrl ?? '', schema) };
    },
  },
];

for (const target of targets) {
  describe(`durable MLLP ingest on ${target.name}`, () => {
    test('every message is stored before its ACK; invalid and unparseable input is kept as errored; a resend is not stored twice', async (t) => {
      if (target.skip !== undefined) {
        t.skip(target.skip);
        return;
      }
      const { store, cleanup } = await target.open();
      const service = await startListenerService({ host: '127.0.0.1', mllpPort: 0, httpPort: undefined, validate: true, maxFrameBytes: 1 << 20, idleTimeoutMs: 0, logger: createLogger({ level: 'silent' }), store, channelId: 'adt-in' });
      const client = new MllpClient({ host: '127.0.0.1', port: service.mllp.port, poolSize: 4, ackTimeoutMs: 10_000 });
      try {
        const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => client.send(adt(`D-${i}`, `MRN${i % 5}`))));
        assert.ok(replies.every((r) => r.ack?.code === 'AA'));
        // A resend of D-3 (as after a lost ACK) is acknowledged again but not stored again.
        assert.equal((await client.send(adt('D-3', 'MRN3'))).ack?.code, 'AA');
        const invalid = await client.send(adt('D-BAD', '', ''));
        assert.equal(invalid.ack?.code, 'AE');
        const garbage = await client.send('MSH|^~\\&|REG|HOSP|SWB|HOSP|20240305||ADT^A08|D-GARBAGE|P|2.5.1\rPI|1\r');
        assert.equal(garbage.ack?.code, 'AE');

        const all = await store.messages.search({ channelId: 'adt-in', limit: 500 });
        assert.equal(all.items.length, 42, 'the 40 messages, the invalid one and the unparseable one');
        const d3 = await store.messages.search({ controlId: 'D-3' });
        assert.equal(d3.items.length, 1);
        const byPatient = await store.messages.search({ patientId: 'MRN2', channelId: 'adt-in' });
        assert.equal(byPatient.items.length, 8);
        const stored = await store.messages.get(d3.items[0]?.id ?? '');
        assert.equal(stored?.content, adt('D-3', 'MRN3'));
        assert.equal(stored?.status, 'received');
        assert.equal(stored?.orderingKey, 'MRN3');
        assert.match(stored?.source ?? '', /^mllp:\/\/127\.0\.0\.1:\d+$/);
        const bad = await store.messages.search({ controlId: 'D-BAD' });
        assert.equal(bad.items[0]?.status, 'errored');
        assert.equal(bad.items[0]?.statusReason, 'SWB_ERR_HL7_INVALID_MESSAGE');
        const errored = await store.messages.search({ channelId: 'adt-in', status: 'errored' });
        assert.deepEqual(errored.items.map((m) => m.statusReason).sort(), ['SWB_ERR_HL7_BAD_SEGMENT_ID', 'SWB_ERR_HL7_INVALID_MESSAGE']);
      } finally {
        await client.close();
        await service.close();
        await store.close();
        await cleanup();
      }
    });

    test('when the store fails, the sender gets AR (keep and resend), never AA', async (t) => {
      if (target.skip !== undefined) {
        t.skip(target.skip);
        return;
      }
      const { store, cleanup } = await target.open();
      const service = await startListenerService({ host: '127.0.0.1', mllpPort: 0, httpPort: undefined, validate: false, maxFrameBytes: 1 << 20, idleTimeoutMs: 0, logger: createLogger({ level: 'silent' }), store });
      const client = new MllpClient({ host: '127.0.0.1', port: service.mllp.port, ackTimeoutMs: 10_000 });
      try {
        await store.close();
        const r = await client.send(adt('F-1', 'MRN1'));
        assert.equal(r.ack?.code, 'AR');
        assert.equal(r.ack?.errorCode, '207');
      } finally {
        await client.close();
        await service.close();
        await cleanup();
      }
    });
  });
}
