import { parseBatch, type Hl7Batch, type Hl7Segment } from '../hl7v2/index.ts';

/** One message's round-trip result, identified by file and position (never by content). */
export interface RoundtripResult {
  readonly file: string;
  /** 1-based message number in the file; 0 when the file did not parse at all. */
  readonly message: number;
  readonly ok: boolean;
  readonly reason?: string;
}

/** The segment lines of ER7 text: terminators (CR, LF, CRLF, runs, blank lines) dropped, BOM removed. */
export function segmentLines(text: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
}

function batchSegments(batch: Hl7Batch): Array<{ seg: Hl7Segment; message: number }> {
  const out: Array<{ seg: Hl7Segment; message: number }> = [];
  let n = 0;
  if (batch.fileHeader) out.push({ seg: batch.fileHeader, message: 0 });
  for (const b of batch.batches) {
    if (b.header) out.push({ seg: b.header, message: 0 });
    for (const m of b.messages) {
      n++;
      for (const seg of m.segments) out.push({ seg, message: n });
    }
    if (b.trailer) out.push({ seg: b.trailer, message: 0 });
  }
  if (batch.fileTrailer) out.push({ seg: batch.fileTrailer, message: 0 });
  return out;
}

/**
 * Checks serialize(parse(x)) == x for every message of a file, comparing segment by segment with
 * terminators normalised; a file that does not parse counts as one failure with its located error.
 */
export function roundtripFile(file: string, bytes: Buffer): RoundtripResult[] {
  const text = bytes.toString('utf8');
  let batch: Hl7Batch;
  try {
    batch = parseBatch(text);
  } catch (e) {
    return [{ file, message: 0, ok: false, reason: (e as Error).message }];
  }
  const expected = segmentLines(text);
  const actual = batchSegments(batch);
  const failed = new Map<number, string>();
  const count = batch.messages.length;
  if (expected.length !== actual.length) {
    for (let n = 1; n <= count; n++) failed.set(n, `segment count ${actual.length} after parsing, ${expected.length} in the input`);
  } else {
    for (let i = 0; i < actual.length; i++) {
      const { seg, message } = actual[i] as { seg: Hl7Segment; message: number };
      if (seg.toString() !== expected[i] && !failed.has(message)) failed.set(message, `segment ${i + 1} (${seg.name}) differs after serialization`);
    }
  }
  if (failed.size === 0 && batch.toString() !== text) {
    // Segments match but the bytes around them (terminators, BOM, leading blank lines) do not.
    for (let n = 1; n <= count; n++) failed.set(n, 'terminators or BOM differ from the input');
  }
  const results: RoundtripResult[] = [];
  for (let n = 1; n <= count; n++) {
    const reason = failed.get(n) ?? failed.get(0);
    results.push(reason === undefined ? { file, message: n, ok: true } : { file, message: n, ok: false, reason });
  }
  return results;
}
