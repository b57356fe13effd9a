import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { IngestRecord } from '../src/core/ports/message-store.ts';
import { openStore } from '../src/store/open-store.ts';
import { runCli, tempDir } from './cli-helpers.ts';

// Written here for this test. ZZ* names are markers that must appear only where content is asked for.
const hl7 = (type: string, controlId: string, mrn: string, family: string, extra = ''): string =>
  [`MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305100000+0000||${type}|${controlId}|P|2.5.1`, `PID|1||${mrn}^^^H^MR||${family}^JANE`, ...(extra ? [extra] : [])].join('\r');

const A = { content: hl7('ADT^A01', 'CTL-1', 'MRN-1', 'ZZALPHA'), type: 'ADT^A01', controlId: 'CTL-1', patientIds: ['MRN-1'], at: '2024-03-05T10:00:00.000Z' };
const B = { content: hl7('ORU^R01', 'CTL-2', 'MRN-2', 'ZZBRAVO', 'OBX|1|NM|GLUCOSE||5.4'), type: 'ORU^R01', controlId: 'CTL-2', patientIds: ['MRN-2'], at: '2024-03-05T10:01:00.000Z' };
const C = { content: hl7('ADT^A08', 'CTL-3', 'MRN-1', 'ZZCHARLIE'), type: 'ADT^A08', controlId: 'CTL-3', patientIds: ['MRN-1'], at: '2024-03-05T10:02:00.000Z' };

let dir: string;
let url: string;
const ids: Record<'a' | 'b' | 'c', string> = { a: '', b: '', c: '' };

before(async () => {
  dir = tempDir('swb-messages-cli-');
  url = `sqlite:${join(dir, 'store.db')}`;
  const store = await openStore(url);
  try {
    const ingest = async (m: typeof A): Promise<string> => {
      const record: IngestRecord = {
        channelId: 'adt-in',
        content: m.content,
        contentType: 'hl7v2',
        receivedAt: new Date(m.at),
        source: 'mllp://10.0.0.5:50312',
        messageType: m.type,
        controlId: m.controlId,
        sendingFacility: 'SFAC',
        orderingKey: m.patientIds[0] ?? '',
        patientIds: m.patientIds,
        correlationId: `corr-${m.controlId}`,
        configRevision: 3,
      };
      const r = await store.messages.ingest(record);
      assert.equal(r.kind, 'stored');
      return r.id;
    };
    ids.a = await ingest(A);
    ids.b = await ingest(B);
    ids.c = await ingest(C);
    await store.messages.setStatus(ids.c, 'errored', 'SWB_ERR_HL7_INVALID_MESSAGE');
    await store.messages.appendEvent({ messageId: ids.a, at: new Date('2024-03-05T10:00:00.005Z'), type: 'acked', detail: { ack: 'AA' } });
  } finally {
    await store.close();
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

const line = (id: string, m: typeof A, status: string, reason = '-'): string => `${m.at}  ${id}  adt-in  ${m.type}  ${m.controlId}  ${status}  ${reason}\n`;
const search = (...args: string[]): ReturnType<typeof runCli> => runCli(['messages', 'search', '--store', url, ...args]);

test('search by control id, patient id, status and text prints one line per message, no content or patient ids', async () => {
  const byControl = await search('--control-id', 'CTL-2');
  assert.equal(byControl.stderr, '');
  assert.equal(byControl.code, 0);
  assert.equal(byControl.stdout, line(ids.b, B, 'received'));

  const byPatient = await search('--patient-id', 'MRN-1');
  assert.equal(byPatient.code, 0);
  assert.equal(byPatient.stdout, line(ids.c, C, 'errored', 'SWB_ERR_HL7_INVALID_MESSAGE') + line(ids.a, A, 'received'));
  assert.doesNotMatch(byPatient.stdout, /MRN-1|ZZALPHA|ZZBRAVO|ZZCHARLIE/);

  const byStatus = await search('--status', 'errored');
  assert.equal(byStatus.code, 0);
  assert.equal(byStatus.stdout, line(ids.c, C, 'errored', 'SWB_ERR_HL7_INVALID_MESSAGE'));

  const byText = await search('--text', 'glucose zzbravo');
  assert.equal(byText.code, 0);
  assert.equal(byText.stdout, line(ids.b, B, 'received'));

  const none = await search('--text', 'ZZNOBODY');
  assert.equal(none.code, 0);
  assert.equal(none.stdout, '');
});

test('paging with --limit 1 walks every message through the printed cursor', async () => {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 4; page++) {
    const r = await search('--limit', '1', ...(cursor !== undefined ? ['--cursor', cursor] : []));
    assert.equal(r.code, 0, r.stderr);
    const [first, second, ...rest] = r.stdout.split('\n');
    assert.ok(first !== undefined && first !== '');
    seen.push(`${first}\n`);
    const next = /^next cursor: (\S+)$/.exec(second ?? '');
    if (next === null) {
      assert.equal(second, '');
      assert.deepEqual(rest, []);
      cursor = undefined;
      break;
    }
    assert.deepEqual(rest, ['']);
    cursor = next[1];
  }
  assert.equal(cursor, undefined);
  assert.deepEqual(seen, [line(ids.c, C, 'errored', 'SWB_ERR_HL7_INVALID_MESSAGE'), line(ids.b, B, 'received'), line(ids.a, A, 'received')]);
});

test('show --json prints the message with its content and events', async () => {
  const r = await runCli(['messages', 'show', ids.a, '--store', url, '--json']);
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  const shown = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(typeof shown['updatedAt'], 'string');
  delete shown['updatedAt'];
  assert.deepEqual(shown, {
    id: ids.a,
    receivedAt: A.at,
    channelId: 'adt-in',
    messageType: 'ADT^A01',
    controlId: 'CTL-1',
    status: 'received',
    statusReason: null,
    correlationId: 'corr-CTL-1',
    contentType: 'hl7v2',
    source: 'mllp://10.0.0.5:50312',
    sendingFacility: 'SFAC',
    orderingKey: 'MRN-1',
    patientIds: ['MRN-1'],
    configRevision: 3,
    content: A.content,
    // `received` is written by the store with the message; `acked` was appended by this test.
    events: [
      { at: A.at, type: 'received', deliveryId: null, detail: { configRevision: 3 } },
      { at: '2024-03-05T10:00:00.005Z', type: 'acked', deliveryId: null, detail: { ack: 'AA' } },
    ],
  });
});

test('show without --json prints metadata, events and the content with LF line ends', async () => {
  const r = await runCli(['messages', 'show', ids.c, '--store', url]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      `id:             ${ids.c}`,
      `received:       ${C.at}`,
      'channel:        adt-in',
      'type:           ADT^A08',
      'control id:     CTL-3',
      'status:         errored (SWB_ERR_HL7_INVALID_MESSAGE)',
      'correlation id: corr-CTL-3',
      'source:         mllp://10.0.0.5:50312',
      'facility:       SFAC',
      'patient ids:    MRN-1',
      'config rev:     3',
      'events:',
      `  ${C.at}  received  {"configRevision":3}`,
      'content (hl7v2):',
      C.content.replaceAll('\r', '\n'),
      '',
    ].join('\n'),
  );
});

test('an unknown id exits 1 with SWB_ERR_STORE_NOT_FOUND; a bad --from exits 2 with SWB_ERR_CLI_USAGE', async () => {
  const missing = await runCli(['messages', 'show', '01NOSUCHMESSAGE', '--store', url]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.equal(missing.stderr, 'SWB_ERR_STORE_NOT_FOUND: message 01NOSUCHMESSAGE does not exist\n');

  const badFrom = await search('--from', 'yesterday');
  assert.equal(badFrom.code, 2);
  assert.equal(badFrom.stdout, '');
  assert.equal(
    badFrom.stderr,
    'SWB_ERR_CLI_USAGE: --from must be an ISO 8601 date (2024-03-05) or date-time with an offset (2024-03-05T10:30:00Z), got "yesterday"\n',
  );

  const badLimit = await search('--limit', '0');
  assert.equal(badLimit.code, 2);
  assert.equal(badLimit.stderr, 'SWB_ERR_CLI_USAGE: --limit must be an integer 1-500, got "0"\n');

  const badCursor = await search('--cursor', 'bm90LWEtY3Vyc29y');
  assert.equal(badCursor.code, 2);
  assert.equal(badCursor.stderr, 'SWB_ERR_CLI_USAGE: --cursor is not a cursor returned by a previous search\n');
});
