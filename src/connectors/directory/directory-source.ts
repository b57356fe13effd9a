import { access, mkdir, readdir, readFile, rename, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SwitchboardError } from '../../core/errors.ts';
import type { InboundMessage, ReceiveResult, SourceConnector, SourceContext } from '../../engine/source-connector.ts';
import { parseBatch } from '../../hl7v2/index.ts';
import { invalid, optionalInt, optionalString, reasonOf, requiredString, type Settings } from '../connector-settings.ts';
import { onlyKnown } from '../source-settings.ts';

/**
 * Polls a folder and feeds each file's messages to a channel.
 *
 * Files whose name ends with one of `pattern` (default `.hl7`, `.txt`; dot-files are skipped) are
 * taken one at a time in name order (code-unit order), because order matters for per-key FIFO.
 * A file modified less than `minAgeMs` ago may still be being written: it and every file after it
 * wait for the next poll, so a later file never overtakes an earlier one.
 *
 * A file holds one message, several (split where a line starts with MSH), or an HL7 batch/file
 * (HL7 v2.5.1 ch.2 2.10.3, FHS/BHS...BTS/FTS: the envelope segments are dropped, each MSH message
 * is received); a file whose first non-blank character is `{` is one FHIR JSON message; anything
 * else is one `text` message. Every message is received in order, then the file is renamed (same
 * file system, atomic) into `doneDir`, or into `errorDir` when any message was stored errored (a
 * content error: the stored copy carries the reason; the file is kept for the operator). An empty
 * or unreadable file goes to `errorDir` too.
 *
 * A message the channel could not store (`rejected`: the store is down) stops the file where it
 * is: the file stays in place and the poll ends; the next poll reads it again from the top. The
 * messages before the failure are received again; the channel's dedupe on sender + MSH-10 answers
 * them as duplicates, so nothing is lost and nothing is stored twice. FHIR and text files have no
 * such key, but they hold one message, so a re-read only repeats a message that was not stored.
 * Names already present in doneDir/errorDir get a `.<epoch ms>` suffix instead of overwriting.
 *
 * `stop()` stops polling and waits for the file in hand to be finished.
 */

export interface DirectorySourceSettings {
  readonly path: string;
  /** Name suffixes to take (default ['.hl7', '.txt']); '*' takes every file. */
  readonly pattern?: readonly string[] | string;
  /** Default 1000. */
  readonly pollMs?: number;
  /** Default `<path>/done`. */
  readonly doneDir?: string;
  /** Default `<path>/error`. */
  readonly errorDir?: string;
  /** Default 1000. */
  readonly minAgeMs?: number;
  /** Default utf8; latin1 for ISO 8859-1 files. */
  readonly encoding?: 'utf8' | 'latin1';
}

const KNOWN = ['path', 'pattern', 'pollMs', 'doneDir', 'errorDir', 'minAgeMs', 'encoding'];

/** What one poll did, for tests and logs. */
export interface DirectoryPollResult {
  readonly done: readonly string[];
  readonly errored: readonly string[];
  /** A file left in place because a message of it was not stored. */
  readonly retry: string | undefined;
}

function readPattern(settings: Settings, path: string): readonly string[] {
  const value = settings['pattern'];
  if (value === undefined) return ['.hl7', '.txt'];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((p): p is string => typeof p === 'string' && p !== '' && !/[/\\]/.test(p))) {
    throw invalid(`${path}.pattern`, "must be a non-empty list of name suffixes such as '.hl7' (or '*')");
  }
  // Accept the glob spelling `*.hl7` for a suffix.
  return list.map((p) => (p.startsWith('*') && p.length > 1 ? p.slice(1) : p));
}

/** Splits ER7 text into messages where a line starts with MSH, dropping batch envelope segments. */
export function splitHl7(text: string): string[] {
  const head = text.replace(/^[\uFEFF\s]+/, '').slice(0, 3);
  if (head === 'FHS' || head === 'BHS') {
    try {
      // The batch parser checks structure and BTS/FTS counts; untouched segments serialize as read.
      return parseBatch(text).messages.map((m) => m.toString());
    } catch {
      // A malformed envelope must not lose its messages: fall back to the plain split, and each
      // message is stored on its own (errored if it is itself broken).
    }
  }
  const out: string[] = [];
  const lines = text.split(/(?<=\r\n|\r|\n)/);
  let current = '';
  for (const line of lines) {
    const id = line.replace(/^\uFEFF/, '').slice(0, 3);
    if (id === 'FHS' || id === 'BHS' || id === 'BTS' || id === 'FTS') continue;
    if (id === 'MSH' && current.trim() !== '') {
      out.push(current);
      current = '';
    }
    current += line;
  }
  if (current.trim() !== '') out.push(current);
  return out;
}

/** The messages of a file, in order. */
export function messagesOf(text: string): { contentType: InboundMessage['contentType']; content: string }[] {
  const trimmed = text.replace(/^[\uFEFF\s]+/, '');
  if (trimmed === '') return [];
  if (trimmed.startsWith('{')) return [{ contentType: 'fhir+json', content: text }];
  if (/^(MSH|FHS|BHS)/.test(trimmed)) return splitHl7(text).map((content) => ({ contentType: 'hl7v2', content }));
  return [{ contentType: 'text', content: text }];
}

export class DirectorySource implements SourceConnector {
  readonly kind = 'directory';
  readonly #dir: string;
  readonly #suffixes: readonly string[];
  readonly #pollMs: number;
  readonly #doneDir: string;
  readonly #errorDir: string;
  readonly #minAgeMs: number;
  readonly #encoding: 'utf8' | 'latin1';
  #context: SourceContext | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Polls that ended in an unexpected failure (a listing error): counted, retried next poll. */
  pollErrors = 0;

  constructor(settings: Settings, path = 'source.settings') {
    onlyKnown(settings, path, KNOWN);
    this.#dir = resolve(requiredString(settings, path, 'path'));
    this.#suffixes = readPattern(settings, path);
    this.#pollMs = optionalInt(settings, path, 'pollMs', 10) ?? 1000;
    this.#doneDir = resolve(this.#dir, optionalString(settings, path, 'doneDir') ?? 'done');
    this.#errorDir = resolve(this.#dir, optionalString(settings, path, 'errorDir') ?? 'error');
    this.#minAgeMs = optionalInt(settings, path, 'minAgeMs', 0) ?? 1000;
    const encoding = optionalString(settings, path, 'encoding') ?? 'utf8';
    if (encoding !== 'utf8' && encoding !== 'latin1') throw invalid(`${path}.encoding`, 'must be utf8 or latin1');
    this.#encoding = encoding;
  }

  get doneDir(): string {
    return this.#doneDir;
  }

  get errorDir(): string {
    return this.#errorDir;
  }

  /** Checks the folder is readable and creates doneDir/errorDir, then polls (the first poll at once). */
  async start(context: SourceContext): Promise<void> {
    if (this.#loop !== undefined) return;
    try {
      const s = await stat(this.#dir);
      if (!s.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      await readdir(this.#dir);
      await mkdir(this.#doneDir, { recursive: true });
      await mkdir(this.#errorDir, { recursive: true });
    } catch (error) {
      throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: this.#dir, reason: reasonOf(error) });
    }
    this.#context = context;
    this.#stopping = false;
    this.#loop = this.#run();
  }

  /** Stops polling; resolves once the file in hand is finished (moved, or left for a retry). */
  async stop(): Promise<void> {
    const loop = this.#loop;
    if (loop === undefined) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await loop;
    this.#loop = undefined;
    this.#context = undefined;
  }

  describe(): string {
    return `dir:${this.#dir}`;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.pollOnce();
      } catch {
        this.pollErrors += 1;
      }
      if (this.#stopping) break;
      await new Promise<void>((wake) => {
        this.#wake = wake;
        this.#timer = setTimeout(wake, this.#pollMs);
      });
      this.#wake = undefined;
    }
  }

  /** One pass over the folder (the poll loop calls it; tests may too, while stopped). */
  async pollOnce(context: SourceContext | undefined = this.#context): Promise<DirectoryPollResult> {
    if (context === undefined) throw new Error('DirectorySource.pollOnce needs a context: call start() first');
    const done: string[] = [];
    const errored: string[] = [];
    const entries = await readdir(this.#dir, { withFileTypes: true });
    const names = entries
      .filter((e) => e.isFile() && !e.name.startsWith('.') && this.#suffixes.some((s) => s === '*' || e.name.endsWith(s)))
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      if (this.#stopping && context === this.#context) break;
      const file = join(this.#dir, name);
      let mtimeMs: number;
      try {
        mtimeMs = (await stat(file)).mtimeMs;
      } catch {
        continue; // Gone since the listing (another poller took it).
      }
      // Still being written, perhaps: it and the files after it wait, so order holds. (minAgeMs 0
      // skips the check: mtime has sub-millisecond precision and may read ahead of Date.now().)
      if (this.#minAgeMs > 0 && Date.now() - mtimeMs < this.#minAgeMs) break;
      const outcome = await this.#processFile(context, name, file);
      if (outcome === 'retry') return { done, errored, retry: name };
      if (outcome === 'done') done.push(name);
      else errored.push(name);
    }
    return { done, errored, retry: undefined };
  }

  async #processFile(context: SourceContext, name: string, file: string): Promise<'done' | 'errored' | 'retry'> {
    let text: string;
    try {
      text = await readFile(file, this.#encoding);
    } catch {
      return (await this.#move(file, name, this.#errorDir)) ? 'errored' : 'retry';
    }
    const messages = messagesOf(text);
    if (messages.length === 0) return (await this.#move(file, name, this.#errorDir)) ? 'errored' : 'retry';
    let anyErrored = false;
    for (const m of messages) {
      let result: ReceiveResult;
      try {
        result = await context.receive({ content: m.content, contentType: m.contentType, source: `file:${name}`, receivedAt: new Date() });
      } catch {
        return 'retry';
      }
      if (result.kind === 'rejected') return 'retry';
      if (result.status === 'errored' || result.errorCode !== undefined) anyErrored = true;
    }
    const target = anyErrored ? this.#errorDir : this.#doneDir;
    if (!(await this.#move(file, name, target))) return 'retry';
    return anyErrored ? 'errored' : 'done';
  }

  /** Renames into `dir`, never over an existing file. false when the rename failed (retried next poll). */
  async #move(file: string, name: string, dir: string): Promise<boolean> {
    let target = join(dir, name);
    try {
      await access(target);
      target = join(dir, `${name}.${Date.now()}`);
    } catch {
      // Free: the usual case.
    }
    try {
      await rename(file, target);
      return true;
    } catch {
      return false;
    }
  }
}
