import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { DestinationConnector, OutboundDelivery, SendResult } from '../../engine/destination-connector.ts';
import { invalid, optionalString, reasonOf, requiredString, type Settings } from '../connector-settings.ts';

/**
 * Writes each delivery's payload to a file in `directory`, atomically: the bytes go to a temporary
 * file in the same directory (`.<name>.<random>.tmp`), which is fsynced, then renamed over the final
 * name, then the directory is fsynced so the rename survives a crash (POSIX rename(2) is atomic
 * within one file system). A reader listing the directory sees either no file or the whole file;
 * readers should ignore dot-files, which is where a write in progress lives.
 *
 * Idempotency (ARCHITECTURE.md invariant 2): the file name comes from the delivery, so a resent
 * delivery replaces its own file instead of adding a second one. Templates should therefore include
 * `{deliveryId}` or `{messageId}`; `{date}` (UTC `YYYYMMDD` at the time of the attempt) makes a
 * resend across midnight a second file.
 *
 * Failures: permission, read-only file system, disk full or quota, a path that is not a directory:
 * permanent (SWB_ERR_FILE_DEST_WRITE_FAILED), since retrying unchanged cannot succeed until an
 * operator acts; too many open files or a busy file: transient (SWB_ERR_FILE_DEST_BUSY). A failed
 * write removes its temporary file.
 */

export interface FileDestinationSettings {
  /** Created (with parents) when missing. */
  readonly directory: string;
  /** Template with `{messageId}`, `{deliveryId}`, `{date}` (default `{deliveryId}.hl7`); no path separators. */
  readonly fileName?: string;
  /** File permissions as an octal string such as `"640"` or a number such as 0o640 (default: 0o666 less the umask). */
  readonly mode?: string | number;
}

const PATH = 'destination.settings';
const DEFAULT_TEMPLATE = '{deliveryId}.hl7';
const PLACEHOLDER = /\{(\w+)\}/g;
const KNOWN = new Set(['messageId', 'deliveryId', 'date']);
const TRANSIENT_CODES = new Set(['EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN', 'EINTR', 'ETXTBSY']);

function readMode(settings: Settings): number | undefined {
  const value = settings['mode'];
  if (value === undefined) return undefined;
  const mode = typeof value === 'string' && /^0?[0-7]{3,4}$/.test(value) ? parseInt(value, 8) : value;
  if (typeof mode !== 'number' || !Number.isSafeInteger(mode) || mode < 0 || mode > 0o7777) throw invalid(`${PATH}.mode`, 'must be a file mode such as "640"');
  return mode;
}

function readTemplate(settings: Settings): string {
  const template = optionalString(settings, PATH, 'fileName') ?? DEFAULT_TEMPLATE;
  if (/[/\\\0]/.test(template)) throw invalid(`${PATH}.fileName`, 'must be a file name, without path separators');
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!KNOWN.has(match[1] ?? '')) throw invalid(`${PATH}.fileName`, `has an unknown placeholder {${match[1] ?? ''}}; use {messageId}, {deliveryId} or {date}`);
  }
  if (!/\{(deliveryId|messageId)\}/.test(template)) {
    // Without an id every delivery (of a day) would overwrite the last one.
    throw invalid(`${PATH}.fileName`, 'must contain {deliveryId} or {messageId} so deliveries do not overwrite each other');
  }
  return template;
}

/** Keeps ids file-system safe: anything outside [A-Za-z0-9._-] becomes '_', and no leading dot. */
function safe(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
}

function utcDate(now: Date): string {
  return now.toISOString().slice(0, 10).replace(/-/g, '');
}

export class FileDestination implements DestinationConnector {
  readonly kind = 'file';
  readonly #directory: string;
  readonly #template: string;
  readonly #mode: number | undefined;
  #closed = false;

  constructor(settings: Settings) {
    this.#directory = resolve(requiredString(settings, PATH, 'directory'));
    this.#template = readTemplate(settings);
    this.#mode = readMode(settings);
  }

  get directory(): string {
    return this.#directory;
  }

  /** The file name a delivery is written to. */
  fileNameFor(delivery: OutboundDelivery, now: Date = new Date()): string {
    const values: Record<string, string> = { messageId: delivery.messageId, deliveryId: delivery.id, date: utcDate(now) };
    return this.#template.replace(PLACEHOLDER, (_whole, key: string) => safe(values[key] ?? ''));
  }

  async send(delivery: OutboundDelivery, signal: AbortSignal): Promise<SendResult> {
    const name = this.fileNameFor(delivery);
    const finalPath = join(this.#directory, name);
    if (this.#closed) return fail('SWB_ERR_DEST_NOT_SENT', { target: finalPath, reason: 'the connector is closed' });
    const tempPath = join(this.#directory, `.${name}.${randomUUID()}.tmp`);
    let tempCreated = false;
    try {
      await mkdir(this.#directory, { recursive: true });
      if (signal.aborted) return fail('SWB_ERR_DEST_NOT_SENT', { target: finalPath, reason: 'aborted before writing' });
      const handle = await open(tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, this.#mode ?? 0o666);
      tempCreated = true;
      try {
        await handle.writeFile(delivery.payload, 'utf8');
        // open()'s mode is reduced by the umask; an explicit mode is applied as given.
        if (this.#mode !== undefined) await chmod(tempPath, this.#mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // Until the rename nothing is visible, so an abort up to here leaves no trace: not sent.
      if (signal.aborted) {
        await unlink(tempPath).catch(() => undefined);
        return fail('SWB_ERR_DEST_NOT_SENT', { target: finalPath, reason: 'aborted before the rename' });
      }
      await rename(tempPath, finalPath);
      tempCreated = false;
    } catch (error) {
      if (tempCreated) await unlink(tempPath).catch(() => undefined);
      const reason = reasonOf(error);
      return fail(TRANSIENT_CODES.has(reason) ? 'SWB_ERR_FILE_DEST_BUSY' : 'SWB_ERR_FILE_DEST_WRITE_FAILED', { path: finalPath, reason });
    }
    try {
      await syncDirectory(this.#directory);
    } catch (error) {
      // The file is in place but its rename may not survive a crash; writing it again is harmless
      // (same name), so this is worth a retry, not the exception queue.
      return fail('SWB_ERR_FILE_DEST_BUSY', { path: finalPath, reason: `directory fsync: ${reasonOf(error)}` });
    }
    return { kind: 'delivered', response: finalPath };
  }

  /** Holds no open handles between sends; refuses new sends. */
  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** fsync on the directory makes the rename durable (POSIX); not supported on Windows, where it is skipped. */
async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return;
  const dir = await open(directory, constants.O_RDONLY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function fail(code: ErrorCode, params: Readonly<Record<string, string>>): SendResult {
  const error = new SwitchboardError(code, params);
  return { kind: 'failed', failureClass: error.failureClass, errorCode: error.code, response: error.message };
}
