import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { isSwitchboardError } from '../../core/errors.ts';
import type { InboundMessage, ReceiveResult, SourceContext } from '../../engine/source-connector.ts';
import { testMessage } from '../../mllp/mllp-test-kit.ts';
import { DirectorySource, messagesOf, splitHl7 } from './directory-source.ts';

const MSH10 = /^MSH\|[^|]*(?:\|[^|]*){7}\|([^|]*)/;

function context(answer: (m: InboundMessage, n: number) => ReceiveResult = () => ok()): SourceContext & { seen: InboundMessage[]; ids: () => string[] } {
  const seen: InboundMessage[] = [];
  return {
    channelId: 'test',
    seen,
    ids: () => seen.map((m) => MSH10.exec(m.content)?.[1] ?? m.contentType),
    receive(m) {
      seen.push(m);
      return Promise.resolve(answer(m, seen.length));
    },
  };
}

function ok(over: Partial<Extract<ReceiveResult, { kind: 'accepted' }>> = {}): ReceiveResult {
  return { kind: 'accepted', messageId: 'm', duplicate: false, status: 'queued', ack: undefined, ...over };
}

async function folder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swb-dir-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A stopped source whose folders exist, polled by hand with pollOnce. */
async function manual(t: TestContext, settings: Record<string, unknown> = {}): Promise<{ dir: string; source: DirectorySource }> {
  const dir = await folder(t);
  const source = new DirectorySource({ path: dir, minAgeMs: 0, pollMs: 60_000, ...settings });
  // start() creates done/ and error/ and runs the first poll on an empty folder; stop it at once.
  await source.start(context());
  await source.stop();
  return { dir, source };
}

const batch = (ids: string[], count = ids.length): string =>
  ['FHS|^~\\&|SND|FAC|SWB|TEST|20240101120000', 'BHS|^~\\&|SND|FAC|SWB|TEST|20240101120000', ...ids.map((id) => testMessage(id).replace(/\r$/, '')), `BTS|${count}`, 'FTS|1', ''].join('\r');

describe('splitting a file into messages', () => {
  test('one message, several (split at MSH line starts, any line ending), FHIR JSON, text', () => {
    assert.deepEqual(splitHl7(testMessage('A')), [testMessage('A')]);
    assert.deepEqual(splitHl7(testMessage('A') + testMessage('B')), [testMessage('A'), testMessage('B')]);
    const lf = `${testMessage('A').replace(/\r/g, '\n')}\n${testMessage('B').replace(/\r/g, '\r\n')}`;
    assert.deepEqual(splitHl7(lf).map((m) => MSH10.exec(m)?.[1]), ['A', 'B']);
    assert.deepEqual(messagesOf('  {"resourceType":"Patient"}'), [{ contentType: 'fhir+json', content: '  {"resourceType":"Patient"}' }]);
    assert.deepEqual(messagesOf('hello'), [{ contentType: 'text', content: 'hello' }]);
    assert.deepEqual(messagesOf(' \n'), []);
  });

  test('an FHS/BHS batch yields its messages, exactly as written; a batch whose count is wrong still yields them', () => {
    assert.deepEqual(splitHl7(batch(['A', 'B', 'C'])), ['A', 'B', 'C'].map((id) => testMessage(id)));
    assert.deepEqual(splitHl7(batch(['A', 'B'], 5)).map((m) => MSH10.exec(m)?.[1]), ['A', 'B']);
    assert.ok(splitHl7(batch(['A', 'B'], 5)).every((m) => !/^(BTS|FTS|FHS|BHS)/m.test(m.replace(/\r/g, '\n'))));
  });
});

describe('DirectorySource', () => {
  test('files are taken in name order, every message in order, then moved to done/', async (t) => {
    const { dir, source } = await manual(t);
    await writeFile(join(dir, 'b.hl7'), testMessage('B1') + testMessage('B2'));
    await writeFile(join(dir, 'a.hl7'), testMessage('A1'));
    await writeFile(join(dir, 'c.txt'), batch(['C1', 'C2']));
    await writeFile(join(dir, 'skip.json'), '{}');
    await writeFile(join(dir, '.hidden.hl7'), testMessage('H'));
    const ctx = context();
    const r = await source.pollOnce(ctx);
    assert.deepEqual(r, { done: ['a.hl7', 'b.hl7', 'c.txt'], errored: [], retry: undefined });
    assert.deepEqual(ctx.ids(), ['A1', 'B1', 'B2', 'C1', 'C2']);
    assert.deepEqual(ctx.seen.map((m) => m.source), ['file:a.hl7', 'file:b.hl7', 'file:b.hl7', 'file:c.txt', 'file:c.txt']);
    assert.deepEqual((await readdir(source.doneDir)).sort(), ['a.hl7', 'b.hl7', 'c.txt']);
    assert.equal(await readFile(join(source.doneDir, 'b.hl7'), 'utf8'), testMessage('B1') + testMessage('B2'));
    assert.deepEqual((await readdir(dir)).sort(), ['.hidden.hl7', 'done', 'error', 'skip.json']);
  });

  test('a store failure mid-file leaves the file in place and ends the poll; the next poll re-reads it from the top', async (t) => {
    const { dir, source } = await manual(t);
    await writeFile(join(dir, '1.hl7'), testMessage('X1') + testMessage('X2') + testMessage('X3'));
    await writeFile(join(dir, '2.hl7'), testMessage('Y1'));
    const failing = context((_m, n) => (n === 2 ? { kind: 'rejected', errorCode: 'SWB_ERR_STORE_UNAVAILABLE', ack: undefined } : ok()));
    const first = await source.pollOnce(failing);
    assert.deepEqual(first, { done: [], errored: [], retry: '1.hl7' });
    assert.deepEqual(failing.ids(), ['X1', 'X2'], 'the later file must not overtake the failed one');
    assert.ok(existsSync(join(dir, '1.hl7')) && existsSync(join(dir, '2.hl7')));
    const second = context();
    assert.deepEqual(await source.pollOnce(second), { done: ['1.hl7', '2.hl7'], errored: [], retry: undefined });
    // X1 again: the channel answers it as a duplicate (sender + MSH-10), so it is not stored twice.
    assert.deepEqual(second.ids(), ['X1', 'X2', 'X3', 'Y1']);
  });

  test('a receive that throws is treated like a store failure: the file stays', async (t) => {
    const { dir, source } = await manual(t);
    await writeFile(join(dir, '1.hl7'), testMessage('T1'));
    const throwing: SourceContext = { channelId: 't', receive: () => Promise.reject(new Error('bug')) };
    assert.deepEqual(await source.pollOnce(throwing), { done: [], errored: [], retry: '1.hl7' });
    assert.ok(existsSync(join(dir, '1.hl7')));
  });

  test('a file with a message stored errored, or with no message, goes to error/', async (t) => {
    const { dir, source } = await manual(t);
    await writeFile(join(dir, '1.hl7'), testMessage('E1') + testMessage('E2'));
    await writeFile(join(dir, '2.hl7'), '\r\n');
    await writeFile(join(dir, '3.hl7'), testMessage('OK'));
    const ctx = context((m) => (m.content.includes('|E2|') ? ok({ status: 'errored', errorCode: 'SWB_ERR_HL7_INVALID_MESSAGE' }) : ok()));
    assert.deepEqual(await source.pollOnce(ctx), { done: ['3.hl7'], errored: ['1.hl7', '2.hl7'], retry: undefined });
    assert.deepEqual(ctx.ids(), ['E1', 'E2', 'OK']);
    assert.deepEqual((await readdir(source.errorDir)).sort(), ['1.hl7', '2.hl7']);
  });

  test('a file younger than minAgeMs waits, and so do the files after it', async (t) => {
    const { dir, source } = await manual(t, { minAgeMs: 60_000 });
    await writeFile(join(dir, 'a.hl7'), testMessage('OLD'));
    await writeFile(join(dir, 'b.hl7'), testMessage('YOUNG'));
    await writeFile(join(dir, 'c.hl7'), testMessage('OLD2'));
    const past = new Date(Date.now() - 120_000);
    await utimes(join(dir, 'a.hl7'), past, past);
    await utimes(join(dir, 'c.hl7'), past, past);
    const ctx = context();
    assert.deepEqual(await source.pollOnce(ctx), { done: ['a.hl7'], errored: [], retry: undefined });
    assert.deepEqual(ctx.ids(), ['OLD']);
  });

  test('a name already in done/ is not overwritten', async (t) => {
    const { dir, source } = await manual(t);
    await writeFile(join(source.doneDir, 'a.hl7'), 'earlier');
    await writeFile(join(dir, 'a.hl7'), testMessage('A'));
    await source.pollOnce(context());
    const names = await readdir(source.doneDir);
    assert.equal(names.length, 2);
    assert.equal(await readFile(join(source.doneDir, 'a.hl7'), 'utf8'), 'earlier');
  });

  test('pattern, doneDir, errorDir and latin1 encoding are honoured', async (t) => {
    const dir = await folder(t);
    const done = join(dir, '..', `${dir.split('/').pop() ?? 'x'}-processed`);
    t.after(() => rm(done, { recursive: true, force: true }));
    const source = new DirectorySource({ path: dir, pattern: ['*.er7'], doneDir: done, errorDir: 'failed', minAgeMs: 0, pollMs: 60_000, encoding: 'latin1' });
    await source.start(context());
    await source.stop();
    assert.ok(existsSync(join(dir, 'failed')));
    await writeFile(join(dir, 'a.er7'), Buffer.from(testMessage('L1', 'Gr\u00fc\u00dfe'), 'latin1'));
    await writeFile(join(dir, 'b.hl7'), testMessage('IGNORED'));
    const ctx = context();
    await source.pollOnce(ctx);
    assert.deepEqual(ctx.ids(), ['L1']);
    assert.match(ctx.seen[0]?.content ?? '', /Gr\u00fc\u00dfe/);
    assert.ok(existsSync(join(done, 'a.er7')));
  });

  test('a missing folder fails start with SWB_ERR_IO_READ_FAILED', async () => {
    const source = new DirectorySource({ path: '/nonexistent/swb-in' });
    await assert.rejects(source.start(context()), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_IO_READ_FAILED');
  });

  test('started, it polls on its own every pollMs', async (t) => {
    const dir = await folder(t);
    const source = new DirectorySource({ path: dir, minAgeMs: 0, pollMs: 20 });
    const ctx = context();
    await source.start(ctx);
    t.after(() => source.stop());
    await writeFile(join(dir, 'x.hl7'), testMessage('P1'));
    const deadline = Date.now() + 5000;
    while (ctx.seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(ctx.ids(), ['P1']);
  });
});
