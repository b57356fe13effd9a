import type { Hl7Encoding } from './hl7-encoding.ts';
import { splitLines } from './hl7-lines.ts';
import { Hl7ErrorCode, Hl7ParseError } from './hl7-parse-error.ts';
import { encodingOf, Hl7Message, notEr7Reason, segmentIdOf, stripBom, type ParseOptions, type SerializeOptions } from './hl7-message.ts';
import { Hl7Segment } from './hl7-segment.ts';

/**
 * Batches and files, HL7 v2.5.1 ch.2 2.10.3: `[FHS] { [BHS] { MSH... } [BTS] } [FTS]`.
 * BHS and BTS are optional around a batch, as are FHS and FTS around the file; a plain sequence of
 * messages (no wrappers) is one implicit batch. When BTS-1 (batch message count) or FTS-1 (file
 * batch count) is valued it must match what was found.
 */
export interface Hl7BatchGroup {
  header: Hl7Segment | undefined;
  messages: Hl7Message[];
  trailer: Hl7Segment | undefined;
}

export class Hl7Batch {
  bom: boolean;
  leading: string;
  fileHeader: Hl7Segment | undefined;
  fileTrailer: Hl7Segment | undefined;
  readonly batches: Hl7BatchGroup[];

  constructor(init: { bom: boolean; leading: string; fileHeader: Hl7Segment | undefined; fileTrailer: Hl7Segment | undefined; batches: Hl7BatchGroup[] }) {
    this.bom = init.bom;
    this.leading = init.leading;
    this.fileHeader = init.fileHeader;
    this.fileTrailer = init.fileTrailer;
    this.batches = init.batches;
  }

  /** Every message of every batch, in order. */
  get messages(): Hl7Message[] {
    return this.batches.flatMap((b) => b.messages);
  }

  toString(options: SerializeOptions = {}): string {
    const norm = options.terminator;
    const parts: string[] = [];
    const seg = (s: Hl7Segment): void => {
      parts.push(s.toString(), norm === undefined ? s.terminator : norm);
    };
    if (this.fileHeader) seg(this.fileHeader);
    for (const b of this.batches) {
      if (b.header) seg(b.header);
      for (const m of b.messages) for (const s of m.segments) seg(s);
      if (b.trailer) seg(b.trailer);
    }
    if (this.fileTrailer) seg(this.fileTrailer);
    // Without normalisation the last terminator is whatever was found (possibly none).
    if (norm !== undefined) {
      const last = this.#lastSegment();
      if (last !== undefined && last.terminator === '') parts.pop();
    }
    return (options.bom === false || !this.bom ? '' : '\uFEFF') + (norm === undefined ? this.leading : '') + parts.join('');
  }

  #lastSegment(): Hl7Segment | undefined {
    if (this.fileTrailer) return this.fileTrailer;
    const b = this.batches[this.batches.length - 1];
    if (b === undefined) return this.fileHeader;
    if (b.trailer) return b.trailer;
    const m = b.messages[b.messages.length - 1];
    return m === undefined ? b.header : m.segments[m.segments.length - 1];
  }
}

function countOf(seg: Hl7Segment): number | undefined {
  const v = seg.get('1');
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const n = Number(v.trim());
  return Number.isInteger(n) && n >= 0 ? n : -1;
}

function describeCount(declared: number): string {
  return declared < 0 ? 'a value that is not a count' : String(declared);
}

/** Parses a batch, a file, or a plain sequence of messages. */
export function parseBatch(input: string | Uint8Array, options: ParseOptions = {}): Hl7Batch {
  const { text, bom, prefix } = stripBom(input, options);
  const { leading, lines, terminators, lineNumbers } = splitLines(text);
  if (lines.length === 0) throw new Hl7ParseError('SWB_ERR_HL7_EMPTY', {});
  const notEr7 = notEr7Reason(lines[0] as string);
  if (notEr7 !== undefined) throw new Hl7ParseError('SWB_ERR_HL7_NOT_ER7', { reason: notEr7 }, undefined, Hl7ErrorCode.unsupportedMessageType);
  let enc: Hl7Encoding | undefined;
  let fileHeader: Hl7Segment | undefined;
  let fileTrailer: Hl7Segment | undefined;
  const batches: Hl7BatchGroup[] = [];
  let group: Hl7BatchGroup | undefined;
  let current: Hl7Segment[] | undefined;
  let currentEnc: Hl7Encoding | undefined;

  const structure = (reason: string, i: number, name: string): Hl7ParseError =>
    new Hl7ParseError('SWB_ERR_HL7_BATCH_STRUCTURE', { reason }, { segment: name, sequence: i + 1, line: lineNumbers[i] ?? i + 1 }, Hl7ErrorCode.segmentSequenceError);
  const flush = (): void => {
    if (current !== undefined && currentEnc !== undefined) {
      if (group === undefined) {
        group = { header: undefined, messages: [], trailer: undefined };
        batches.push(group);
      }
      group.messages.push(new Hl7Message(currentEnc, current));
    }
    current = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const lineNo = lineNumbers[i] ?? i + 1;
    const term = terminators[i] as string;
    const head = line.slice(0, 3);
    if (fileTrailer !== undefined) throw structure('segments follow FTS, which must end the file', i, head);
    if (head === 'FHS' || head === 'BHS' || head === 'MSH') {
      const e = encodingOf(line, lineNo);
      const name = segmentIdOf(line, e, i + 1, lineNo);
      const seg = new Hl7Segment(name, line, e, term);
      if (name === 'FHS') {
        if (i !== 0) throw structure('FHS must be the first segment of a file', i, name);
        fileHeader = seg;
        enc = e;
      } else if (name === 'BHS') {
        flush();
        if (group !== undefined && group.header !== undefined && group.trailer === undefined) throw structure('BHS starts a new batch before the previous one ended with BTS', i, name);
        group = { header: seg, messages: [], trailer: undefined };
        batches.push(group);
        enc = e;
      } else {
        flush();
        if (group !== undefined && group.trailer !== undefined) group = undefined;
        current = [seg];
        currentEnc = e;
        enc ??= e;
      }
      continue;
    }
    const e = currentEnc ?? enc;
    if (e === undefined) throw new Hl7ParseError('SWB_ERR_HL7_NO_MSH', { found: JSON.stringify(head) }, { segment: head || '?', sequence: i + 1, line: lineNo });
    const name = segmentIdOf(line, e, i + 1, lineNo);
    const seg = new Hl7Segment(name, line, e, term);
    if (name === 'BTS') {
      flush();
      if (group === undefined || group.trailer !== undefined) {
        group = { header: undefined, messages: [], trailer: undefined };
        batches.push(group);
      }
      group.trailer = seg;
      const declared = countOf(seg);
      if (declared !== undefined && declared !== group.messages.length) {
        throw new Hl7ParseError('SWB_ERR_HL7_BATCH_COUNT', { trailer: 'BTS-1', declared: describeCount(declared), actual: group.messages.length }, { segment: 'BTS', sequence: i + 1, field: 1, line: lineNo }, Hl7ErrorCode.dataTypeError);
      }
      continue;
    }
    if (name === 'FTS') {
      flush();
      fileTrailer = seg;
      const declared = countOf(seg);
      if (declared !== undefined && declared !== batches.length) {
        throw new Hl7ParseError('SWB_ERR_HL7_BATCH_COUNT', { trailer: 'FTS-1', declared: describeCount(declared), actual: batches.length }, { segment: 'FTS', sequence: i + 1, field: 1, line: lineNo }, Hl7ErrorCode.dataTypeError);
      }
      continue;
    }
    if (current === undefined) throw structure(`${name} appears outside a message (no MSH before it in this batch)`, i, name);
    current.push(seg);
  }
  flush();
  return new Hl7Batch({ bom, leading: prefix + leading, fileHeader, fileTrailer, batches });
}
