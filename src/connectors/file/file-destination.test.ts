import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { assertDelivered, assertFailed, delivery, never } from '../test-support.ts';
import { FileDestination } from './file-destination.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'swb-file-dest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('FileDestination', () => {
  test('writes the payload exactly, creating the directory, and leaves no temporary file', async (t) => {
    const base = tempDir(t);
    const directory = join(base, 'out', 'nested');
    const d = new FileDestination({ directory });
    const payload = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\rPID|1||é^ü\r';
    const result = assertDelivered(await d.send(delivery({ id: 'dlv-7', payload }), never()));
    assert.equal(result.response, join(directory, 'dlv-7.hl7'));
    assert.deepEqual(readdirSync(directory), ['dlv-7.hl7']);
    assert.equal(readFileSync(join(directory, 'dlv-7.hl7'), 'utf8'), payload);
  });

  test('the same delivery twice is one file holding the last write', async (t) => {
    const directory = tempDir(t);
    const d = new FileDestination({ directory, fileName: '{messageId}-{deliveryId}.txt' });
    assertDelivered(await d.send(delivery({ id: 'd1', messageId: 'm1', payload: 'first' }), never()));
    assertDelivered(await d.send(delivery({ id: 'd1', messageId: 'm1', payload: 'second', attempt: 2 }), never()));
    assertDelivered(await d.send(delivery({ id: 'd2', messageId: 'm1', payload: 'other' }), never()));
    assert.deepEqual(readdirSync(directory).sort(), ['m1-d1.txt', 'm1-d2.txt']);
    assert.equal(readFileSync(join(directory, 'm1-d1.txt'), 'utf8'), 'second');
  });

  test('template placeholders are filled and ids cannot escape the directory', () => {
    const d = new FileDestination({ directory: '/x', fileName: '{date}_{messageId}_{deliveryId}.hl7' });
    const name = d.fileNameFor(delivery({ id: '../../etc/passwd', messageId: 'a/b' }), new Date(Date.UTC(2024, 1, 29, 23, 0)));
    assert.equal(name, '20240229_a_b___.._etc_passwd.hl7');
  });

  test('an explicit mode is applied to the file', async (t) => {
    const directory = tempDir(t);
    const d = new FileDestination({ directory, mode: '640' });
    assertDelivered(await d.send(delivery(), never()));
    assert.equal(statSync(join(directory, 'dlv-1.hl7')).mode & 0o777, 0o640);
  });

  test('a directory that cannot be created (a file is in the way) is a permanent failure', async (t) => {
    const base = tempDir(t);
    writeFileSync(join(base, 'blocker'), 'not a directory');
    const d = new FileDestination({ directory: join(base, 'blocker', 'out') });
    const result = assertFailed(await d.send(delivery({ payload: 'PAYLOAD-MARKER' }), never()));
    assert.equal(result.failureClass, 'permanent');
    assert.equal(result.errorCode, 'SWB_ERR_FILE_DEST_WRITE_FAILED');
    assert.match(result.response ?? '', /ENOTDIR/);
    assert.doesNotMatch(result.response ?? '', /PAYLOAD-MARKER/);
  });

  test('an unwritable directory is a permanent failure and leaves nothing behind', async (t) => {
    if (process.getuid?.() === 0) {
      t.skip('running as root: permissions do not stop root from writing');
      return;
    }
    const directory = tempDir(t);
    chmodSync(directory, 0o500);
    t.after(() => chmodSync(directory, 0o700));
    const d = new FileDestination({ directory });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'permanent');
    assert.equal(result.errorCode, 'SWB_ERR_FILE_DEST_WRITE_FAILED');
    assert.deepEqual(readdirSync(directory), []);
  });

  test('a signal aborted before the write writes nothing and is transient', async (t) => {
    const directory = tempDir(t);
    const d = new FileDestination({ directory });
    const result = assertFailed(await d.send(delivery(), AbortSignal.abort()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.errorCode, 'SWB_ERR_DEST_NOT_SENT');
    assert.deepEqual(readdirSync(directory), []);
  });

  test('after close() sends are refused', async (t) => {
    const directory = tempDir(t);
    const d = new FileDestination({ directory });
    await d.close();
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.errorCode, 'SWB_ERR_DEST_NOT_SENT');
    assert.deepEqual(readdirSync(directory), []);
  });

  test('settings are checked and the field path is named', () => {
    assert.throws(() => new FileDestination({}), /destination\.settings\.directory/);
    assert.throws(() => new FileDestination({ directory: '/x', fileName: 'a/{deliveryId}' }), /destination\.settings\.fileName/);
    assert.throws(() => new FileDestination({ directory: '/x', fileName: 'fixed.hl7' }), /destination\.settings\.fileName/);
    assert.throws(() => new FileDestination({ directory: '/x', fileName: '{nope}-{deliveryId}' }), /destination\.settings\.fileName/);
    assert.throws(() => new FileDestination({ directory: '/x', mode: 'rwx' }), /destination\.settings\.mode/);
  });
});
