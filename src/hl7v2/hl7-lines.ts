/**
 * Splits ER7 text into segment lines. HL7 v2.5.1 ch.2 2.5.2 makes CR the segment terminator; real
 * feeds also use LF and CRLF, and files carry blank lines between messages. Each line keeps the
 * exact run of terminators (and any whitespace-only lines) that followed it, so that the input can
 * be rebuilt byte for byte.
 */
export interface Hl7Lines {
  /** Characters before the first segment (a BOM is not included). */
  readonly leading: string;
  readonly lines: string[];
  readonly terminators: string[];
  /** 1-based line numbers of each segment in the input, counting every CR, LF or CRLF as one break. */
  readonly lineNumbers: number[];
}

function isBreak(code: number): boolean {
  return code === 13 || code === 10;
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 12 && c !== 11) return false;
  }
  return true;
}

function countBreaks(run: string): number {
  let n = 0;
  for (let i = 0; i < run.length; i++) {
    const c = run.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13 && run.charCodeAt(i + 1) !== 10) n++;
  }
  return n;
}

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

function isAlnum(c: number): boolean {
  return isUpper(c) || (c >= 48 && c <= 57) || (c >= 97 && c <= 122);
}

/**
 * Whether the bare LF at `i` ends a segment: it does when what follows is the end, another break, a
 * whitespace-only line, or a segment id (three characters, a capital first, then a non-alphanumeric
 * character such as the field separator).
 */
function lfEndsSegment(text: string, i: number): boolean {
  const n = text.length;
  let k = i + 1;
  while (k < n && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9)) k++;
  if (k >= n || isBreak(text.charCodeAt(k))) return true;
  if (k !== i + 1) return false;
  if (k + 3 > n || !isUpper(text.charCodeAt(k)) || !isAlnum(text.charCodeAt(k + 1)) || !isAlnum(text.charCodeAt(k + 2))) return false;
  return k + 3 === n || !isAlnum(text.charCodeAt(k + 3));
}

export function splitLines(text: string, start = 0): Hl7Lines {
  const lines: string[] = [];
  const terminators: string[] = [];
  const lineNumbers: number[] = [];
  let pos = start;
  let leadingEnd = start;
  // Leading blank lines and whitespace before the first segment.
  while (leadingEnd < text.length) {
    const c = text.charCodeAt(leadingEnd);
    if (isBreak(c) || c === 32 || c === 9) leadingEnd++;
    else break;
  }
  const leading = text.slice(start, leadingEnd);
  let lineNo = 1 + countBreaks(leading);
  pos = leadingEnd;
  let nextCr = -2;
  let nextLf = -2;
  const n = text.length;
  while (pos < n) {
    if (nextCr !== -1 && nextCr < pos) nextCr = text.indexOf('\r', pos);
    if (nextLf !== -1 && nextLf < pos) nextLf = text.indexOf('\n', pos);
    let end: number;
    for (;;) {
      if (nextCr === -1) end = nextLf === -1 ? n : nextLf;
      else end = nextLf === -1 || nextCr < nextLf ? nextCr : nextLf;
      // A bare LF that is not followed by a segment id is text inside a field (lab systems put
      // line feeds in OBX-5), not a terminator: CR is the terminator (ch.2 2.5.2).
      if (end === nextLf && end < n && !lfEndsSegment(text, end)) {
        nextLf = text.indexOf('\n', end + 1);
        continue;
      }
      break;
    }
    const line = text.slice(pos, end);
    let termEnd = end;
    while (termEnd < n && isBreak(text.charCodeAt(termEnd))) termEnd++;
    const terminator = text.slice(end, termEnd);
    if (lines.length > 0 && isBlank(line)) {
      // A whitespace-only line is not a segment: keep it with the previous terminator.
      const last = terminators.length - 1;
      terminators[last] = (terminators[last] as string) + line + terminator;
    } else {
      lines.push(line);
      terminators.push(terminator);
      lineNumbers.push(lineNo);
    }
    lineNo += countBreaks(terminator);
    pos = termEnd;
  }
  return { leading, lines, terminators, lineNumbers };
}
