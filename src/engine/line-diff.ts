/**
 * A line diff (longest common subsequence) and its unified rendering, for replay dry runs (a
 * message's old and new payloads, HL7 segments as lines) and channel revision diffs (two YAML
 * exports). Inputs are small (a message, a channel file), so a plain LCS table over the lines left
 * after trimming the common head and tail is enough; past a size cap the middle is shown as
 * replaced wholesale rather than spending unbounded memory.
 */

export type DiffOp =
  | { readonly kind: 'equal'; readonly line: string }
  | { readonly kind: 'delete'; readonly line: string }
  | { readonly kind: 'insert'; readonly line: string };

/** LCS cells allowed (lines of a x lines of b, after trimming): about 16 MB of Uint32. */
const MAX_CELLS = 4_000_000;

/**
 * Splits text into lines on CR, LF or CRLF: HL7 v2 ends segments with CR (v2.5.1 ch.2 2.5.4), files
 * with LF. A final terminator does not make an extra empty line.
 */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The edit script turning `a` into `b`, deletions before insertions within a change. */
export function diffLines(a: readonly string[], b: readonly string[]): DiffOp[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const ops: DiffOp[] = [];
  for (let i = 0; i < head; i++) ops.push({ kind: 'equal', line: a[i] as string });
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  ops.push(...diffMiddle(midA, midB));
  for (let i = a.length - tail; i < a.length; i++) ops.push({ kind: 'equal', line: a[i] as string });
  return ops;
}

function diffMiddle(a: readonly string[], b: readonly string[]): DiffOp[] {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0 || (n + 1) * (m + 1) > MAX_CELLS) {
    return [...a.map((line): DiffOp => ({ kind: 'delete', line })), ...b.map((line): DiffOp => ({ kind: 'insert', line }))];
  }
  // lcs[i][j] = length of the LCS of a[i..] and b[j..], row-major in one array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? (lcs[(i + 1) * w + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
    }
  }
  const ops: DiffOp[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: 'equal', line: a[i] as string });
      i++;
      j++;
    } else if ((lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number)) {
      ops.push({ kind: 'delete', line: a[i] as string });
      i++;
    } else {
      ops.push({ kind: 'insert', line: b[j] as string });
      j++;
    }
  }
  for (; i < n; i++) ops.push({ kind: 'delete', line: a[i] as string });
  for (; j < m; j++) ops.push({ kind: 'insert', line: b[j] as string });
  return ops;
}

export interface UnifiedDiffOptions {
  /** Names on the `---` / `+++` lines. */
  readonly fromLabel?: string;
  readonly toLabel?: string;
  /** Unchanged lines shown around each change (default 3, as diff -u). */
  readonly context?: number;
}

/**
 * The unified diff of two texts (the format of `diff -u` / `git diff`, without timestamps), lines
 * joined with LF; '' when the texts have the same lines.
 */
export function unifiedDiff(from: string, to: string, options: UnifiedDiffOptions = {}): string {
  const ops = diffLines(splitLines(from), splitLines(to));
  if (ops.every((op) => op.kind === 'equal')) return '';
  const context = options.context ?? 3;
  // Line numbers (1-based) of each op in a and b.
  const positions: Array<{ readonly a: number; readonly b: number }> = [];
  let la = 1;
  let lb = 1;
  for (const op of ops) {
    positions.push({ a: la, b: lb });
    if (op.kind !== 'insert') la++;
    if (op.kind !== 'delete') lb++;
  }
  // Group changes closer than 2 * context into one hunk.
  const hunks: Array<{ start: number; end: number }> = [];
  ops.forEach((op, k) => {
    if (op.kind === 'equal') return;
    const start = Math.max(0, k - context);
    const end = Math.min(ops.length, k + context + 1);
    const last = hunks[hunks.length - 1];
    if (last !== undefined && start <= last.end) last.end = Math.max(last.end, end);
    else hunks.push({ start, end });
  });
  const out = [`--- ${options.fromLabel ?? 'a'}`, `+++ ${options.toLabel ?? 'b'}`];
  for (const h of hunks) {
    const slice = ops.slice(h.start, h.end);
    const first = positions[h.start] as { a: number; b: number };
    const aCount = slice.filter((op) => op.kind !== 'insert').length;
    const bCount = slice.filter((op) => op.kind !== 'delete').length;
    // An empty side is numbered by the line before it (GNU diff: "@@ -0,0 +1,2 @@").
    const range = (startLine: number, count: number): string => (count === 1 ? `${startLine}` : `${count === 0 ? startLine - 1 : startLine},${count}`);
    out.push(`@@ -${range(first.a, aCount)} +${range(first.b, bCount)} @@`);
    for (const op of slice) out.push(`${op.kind === 'equal' ? ' ' : op.kind === 'delete' ? '-' : '+'}${op.line}`);
  }
  return out.join('\n');
}
