import { newControlId } from '../core/ids.ts';
import { DEFAULT_ENCODING, encodingCharacters, readEncoding, type Hl7Encoding } from './hl7-encoding.ts';
import { encodeEscapes, needsEscaping } from './hl7-escape.ts';
import { parseMessage, stripBom, type Hl7Message } from './hl7-message.ts';
import { HL7_ERROR_TEXT, Hl7ErrorCode, type Hl7Location } from './hl7-parse-error.ts';
import { formatHl7Timestamp } from './hl7-datatypes.ts';
import { parsePath } from './hl7-path.ts';
import { piece } from './hl7-segment.ts';

/**
 * Acknowledgements, HL7 v2.5.1 ch.2 2.9 ("Message processing rules").
 *
 * Original mode (MSH-15 and MSH-16 empty): one application ACK, AA / AE / AR.
 * Enhanced mode (MSH-15 or MSH-16 valued): a commit ACK (CA / CE / CR) once the message is safely
 * stored, then an application ACK (AA / AE / AR), each sent only when the condition in MSH-15
 * (accept) or MSH-16 (application) asks for it: AL always, NE never, ER on error, SU on success.
 */

export const AckCode = {
  AA: 'AA', AE: 'AE', AR: 'AR',
  CA: 'CA', CE: 'CE', CR: 'CR',
} as const;
export type AckCode = (typeof AckCode)[keyof typeof AckCode];

export const AckCondition = { AL: 'AL', NE: 'NE', ER: 'ER', SU: 'SU' } as const;
export type AckCondition = (typeof AckCondition)[keyof typeof AckCondition];

/** What a message asks of its receiver. */
export interface AckRequirements {
  readonly mode: 'original' | 'enhanced';
  /** MSH-15; in original mode, NE (there is no separate commit ACK). */
  readonly accept: AckCondition;
  /** MSH-16; in original mode, AL. */
  readonly application: AckCondition;
}

/** Outcome of handling a message, in the three levels HL7 distinguishes. */
export type AckOutcome = 'accept' | 'error' | 'reject';

function condition(value: string | null | undefined): AckCondition | undefined {
  const v = (value ?? '').trim().toUpperCase();
  return v === 'AL' || v === 'NE' || v === 'ER' || v === 'SU' ? v : undefined;
}

const MSH_15 = parsePath('MSH-15');
const MSH_16 = parsePath('MSH-16');

export function ackRequirements(msg: Hl7Message): AckRequirements {
  // msg.get('MSH-15'), without looking the path up for every message.
  const msh = msg.segment('MSH');
  const accept = condition(msh?.get(MSH_15));
  const application = condition(msh?.get(MSH_16));
  if (accept === undefined && application === undefined) return { mode: 'original', accept: 'NE', application: 'AL' };
  // Per ch.2 2.9.2, an empty field in enhanced mode means "always" (AL).
  return { mode: 'enhanced', accept: accept ?? 'AL', application: application ?? 'AL' };
}

/** Whether an ACK of this kind is due for this outcome under a condition (AL/NE/ER/SU). */
export function ackDue(cond: AckCondition, outcome: AckOutcome): boolean {
  switch (cond) {
    case 'AL': return true;
    case 'NE': return false;
    case 'ER': return outcome !== 'accept';
    case 'SU': return outcome === 'accept';
  }
}

export function ackCodeFor(kind: 'commit' | 'application', outcome: AckOutcome): AckCode {
  if (kind === 'commit') return outcome === 'accept' ? 'CA' : outcome === 'error' ? 'CE' : 'CR';
  return outcome === 'accept' ? 'AA' : outcome === 'error' ? 'AE' : 'AR';
}

export type ErrorSeverity = 'E' | 'W' | 'I' | 'F';

/** One ERR segment (ch.2 2.15.5). */
export interface AckError {
  /** HL7 table 0357 code (ERR-3). */
  readonly code: Hl7ErrorCode;
  readonly location?: Hl7Location;
  /** ERR-4, HL7 table 0516: E error (default), W warning, I information, F fatal. */
  readonly severity?: ErrorSeverity;
  /** ERR-8 user message: a diagnostic that must not carry PHI. */
  readonly message?: string;
  /** ERR-5 application error code, e.g. our registry code. */
  readonly applicationCode?: string;
}

export interface AckOptions {
  readonly code: AckCode;
  /** MSA-3 text message (deprecated after 2.4 but still read by many receivers). */
  readonly text?: string;
  readonly errors?: readonly AckError[];
  readonly controlId?: string;
  readonly timestamp?: Date;
  /** Use these instead of the original's MSH-5/MSH-6 as our sending application/facility. */
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
}

/** Compares a dotted version with a.b[.c]; an unreadable version counts as current (2.5.1+). */
function versionAtLeast(version: string, major: number, minor: number, patch = 0): boolean {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (m === null) return true;
  const have = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  const want = [major, minor, patch];
  for (let i = 0; i < 3; i++) if ((have[i] as number) !== (want[i] as number)) return (have[i] as number) > (want[i] as number);
  return true;
}

/** What buildAckText needs to know of a version; a feed sends one, so the last one is kept. */
interface VersionTraits {
  readonly version: string;
  /** ERR-2..ERR-8 (v2.5+) rather than ERR-1. */
  readonly v25: boolean;
  /** MSH-9.3 exists (v2.3.1+). */
  readonly v231: boolean;
}

let lastVersion: VersionTraits = { version: '2.5.1', v25: true, v231: true };

function versionTraits(version: string): VersionTraits {
  if (version !== lastVersion.version) lastVersion = { version, v25: versionAtLeast(version, 2, 5), v231: versionAtLeast(version, 2, 3, 1) };
  return lastVersion;
}

/** Fields of the original MSH an ACK echoes; readable even from a message that failed to parse. */
export interface AckContext {
  readonly encoding: Hl7Encoding;
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  readonly receivingApplication: string;
  readonly receivingFacility: string;
  readonly triggerEvent: string;
  readonly controlId: string;
  readonly processingId: string;
  readonly version: string;
}

export function ackContextOf(msg: Hl7Message): AckContext {
  // msg.getRaw('MSH-3') and so on, with the header found once.
  const msh = msg.segment('MSH');
  return {
    encoding: msg.encoding,
    sendingApplication: msh?.rawAt(3) ?? '',
    sendingFacility: msh?.rawAt(4) ?? '',
    receivingApplication: msh?.rawAt(5) ?? '',
    receivingFacility: msh?.rawAt(6) ?? '',
    triggerEvent: msh?.rawAt(9, 1, 2) ?? '',
    controlId: msh?.rawAt(10) ?? '',
    processingId: msh?.rawAt(11) || 'P',
    version: msh?.rawAt(12, 1, 1) || '2.5.1',
  };
}

/**
 * Best-effort context from text that may not parse: the MSH line is read with its own delimiters
 * when it has them, so that even a NAK for a broken message echoes MSA-2 when it can.
 */
export function ackContextOfText(input: string | Uint8Array): AckContext {
  const { text } = stripBom(input);
  const start = text.indexOf('MSH');
  const end = start === -1 ? -1 : text.slice(start).search(/[\r\n]/);
  const line = start === -1 ? '' : end === -1 ? text.slice(start) : text.slice(start, start + end);
  const enc = line === '' ? DEFAULT_ENCODING : readEncoding(line);
  const encoding = typeof enc === 'string' ? DEFAULT_ENCODING : enc;
  const f = (n: number): string => (typeof enc === 'string' || line === '' ? '' : piece(line, encoding.field, n) ?? '');
  const safe = (v: string): string => (/[\r\n]/.test(v) ? '' : v);
  return {
    encoding,
    sendingApplication: safe(f(3)),
    sendingFacility: safe(f(4)),
    receivingApplication: safe(f(5)),
    receivingFacility: safe(f(6)),
    triggerEvent: safe(piece(f(9), encoding.component, 2) ?? ''),
    controlId: safe(f(10)),
    processingId: safe(f(11)) || 'P',
    version: safe(piece(f(12), encoding.component, 1) ?? '') || '2.5.1',
  };
}

/**
 * Free text for an ACK field. When the original's MSH-2 declares no escape character a delimiter
 * cannot be escaped, and an ACK must still go out: blank those characters instead of failing.
 */
function plain(value: string, enc: Hl7Encoding): string {
  if (enc.escape !== '' || !needsEscaping(value, enc)) return value;
  let out = '';
  for (const c of value) out += needsEscaping(c, enc) ? ' ' : c;
  return out;
}

/** Text we write, escaped; most values hold no delimiter, and then come back as they are. */
function escapedText(value: string, enc: Hl7Encoding): string {
  return needsEscaping(value, enc) ? encodeEscapes(plain(value, enc), enc) : value;
}

/** MSH-7 of ACKs built "now": the text changes once a second, so it is formatted once a second. */
let stampSecond = Number.NaN;
let stampText = '';

function currentTimestamp(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== stampSecond) {
    stampText = formatHl7Timestamp(new Date(now));
    stampSecond = second;
  }
  return stampText;
}

function erl(loc: Hl7Location, enc: Hl7Encoding): string {
  const parts = [loc.segment, loc.occurrence ?? loc.sequence, loc.field, loc.repetition, loc.component, loc.subcomponent].map((x) => (x === undefined ? '' : String(x)));
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((x) => encodeEscapes(x, enc)).join(enc.component);
}

/**
 * Builds an ACK for a message (or for the context read from unparseable text). MSH-3..6 are the
 * original's 5/6/3/4 swapped, MSH-9 is ACK^<trigger>^ACK, MSH-10 is fresh, MSA-2 echoes MSH-10,
 * and each error becomes an ERR segment: v2.5+ uses ERR-2 (location), ERR-3 (0357), ERR-4
 * (severity), ERR-8 (user message); earlier versions ERR-1 (ELD).
 */
export function buildAck(original: Hl7Message | AckContext, options: AckOptions): Hl7Message {
  return parseMessage(buildAckText(original, options));
}

/**
 * The same ACK as ER7 text with CR terminators, built as strings: the hot path of every listener,
 * so it avoids building a tree only to serialize it.
 */
export function buildAckText(original: Hl7Message | AckContext, options: AckOptions): string {
  const ctx = 'segments' in original ? ackContextOf(original) : original;
  const enc = ctx.encoding;
  const f = enc.field;
  const c = enc.component;
  // Text we write (as opposed to raw ER7 we echo) is escaped (escapedText); without an escape
  // character its delimiters become spaces rather than corrupt the structure.
  const { v25, v231 } = versionTraits(ctx.version);
  // MSH-9.3 (message structure) exists from v2.3.1; before that an ACK is typed ACK^<trigger>.
  const type = ctx.triggerEvent ? `ACK${c}${ctx.triggerEvent}${v231 ? `${c}ACK` : ''}` : 'ACK';
  const ts = options.timestamp === undefined ? currentTimestamp() : formatHl7Timestamp(options.timestamp);
  const msh = [
    'MSH' + f + encodingCharacters(enc),
    options.sendingApplication ?? ctx.receivingApplication,
    options.sendingFacility ?? ctx.receivingFacility,
    ctx.sendingApplication,
    ctx.sendingFacility,
    // A `+` or `-` delimiter would split the offset off MSH-7 (escapes are not allowed in a DTM):
    // send the time without its offset then.
    needsEscaping(ts, enc) ? ts.slice(0, 14) : ts,
    '',
    type,
    escapedText(options.controlId ?? newControlId(), enc),
    ctx.processingId || 'P',
    ctx.version || '2.5.1',
  ].join(f);
  let out = `${msh}\rMSA${f}${options.code}${f}${ctx.controlId}${options.text !== undefined ? f + escapedText(options.text, enc) : ''}\r`;
  for (const e of options.errors ?? []) {
    const fields: string[] = ['ERR'];
    if (v25) {
      // ERR-2 location (ERL), ERR-3 code (CWE, table 0357), ERR-4 severity, ERR-5, ERR-8.
      fields[2] = e.location ? erl(e.location, enc) : '';
      fields[3] = [e.code, HL7_ERROR_TEXT[e.code], 'HL70357'].map((x) => encodeEscapes(x, enc)).join(c);
      fields[4] = e.severity ?? 'E';
      if (e.applicationCode !== undefined) fields[5] = escapedText(e.applicationCode, enc);
      if (e.message !== undefined) fields[8] = escapedText(e.message, enc);
    } else {
      // ERR-1 ELD: segment id ^ sequence ^ field position ^ code (CE).
      const loc = e.location;
      const eld = [loc?.segment ?? '', String(loc?.occurrence ?? loc?.sequence ?? ''), loc?.field === undefined ? '' : String(loc.field)]
        .map((x) => encodeEscapes(x, enc))
        .join(c);
      const ce = [e.code, HL7_ERROR_TEXT[e.code], 'HL70357'].map((x) => encodeEscapes(x, enc)).join(enc.subcomponent || '&');
      fields[1] = `${eld}${c}${ce}`;
    }
    for (let i = 0; i < fields.length; i++) fields[i] ??= '';
    out += `${fields.join(f)}\r`;
  }
  return out;
}

/** Parses the MSA of a reply: the code, the acknowledged control id, and the text. */
export interface AckSummary {
  readonly code: string;
  readonly controlId: string;
  readonly text: string;
  readonly errors: Array<{ code: string; location: string; severity: string; message: string }>;
}

export function summarizeAck(ack: Hl7Message): AckSummary | undefined {
  const msa = ack.segment('MSA');
  if (msa === undefined) return undefined;
  const errors = ack.segmentsNamed('ERR').map((err) => ({
    code: String(err.get('3.1') ?? err.get('1.4.1') ?? ''),
    location: err.rawAt(2) ?? err.rawAt(1) ?? '',
    severity: String(err.get('4') ?? ''),
    message: String(err.get('8') ?? ''),
  }));
  return { code: String(msa.get('1') ?? ''), controlId: String(msa.get('2') ?? ''), text: String(msa.get('3') ?? ''), errors };
}

/** A reject for text that could not be parsed: AR (CR in enhanced mode) with one ERR. */
export function buildRejectAck(input: string | Uint8Array, error: { hl7Code?: Hl7ErrorCode; location?: Hl7Location | undefined; code?: string; message?: string }): Hl7Message {
  const ctx = ackContextOfText(input);
  const { text } = stripBom(input);
  const trimmed = text.replace(/^[\s]+/, '');
  const hasMsh = /^MSH/.test(trimmed);
  const enhanced = hasMsh ? (() => {
    const line = trimmed.split(/[\r\n]/, 1)[0] ?? '';
    const a = piece(line, ctx.encoding.field, 15) ?? '';
    const b = piece(line, ctx.encoding.field, 16) ?? '';
    return a !== '' || b !== '';
  })() : false;
  const hl7Code = error.hl7Code ?? Hl7ErrorCode.segmentSequenceError;
  // HL7 v2.5.1 ch.2 2.9.2: AR/CR ("reject": may be resent) is for what the receiver cannot take
  // now or at all — unsupported type, event, processing id or version, or its own failure; an
  // error in the message's content is AE/CE, which a sender must not resend unchanged. Text with
  // no MSH at all is not a message we can judge: reject.
  const reject = !hasMsh || REJECT_CODES.has(hl7Code);
  return buildAck(ctx, {
    code: reject ? (enhanced ? 'CR' : 'AR') : enhanced ? 'CE' : 'AE',
    errors: [
      {
        code: hl7Code,
        ...(error.location ? { location: error.location } : {}),
        ...(error.code !== undefined ? { applicationCode: error.code } : {}),
        ...(error.message !== undefined ? { message: error.message } : {}),
      },
    ],
  });
}

const REJECT_CODES: ReadonlySet<string> = new Set([
  Hl7ErrorCode.unsupportedMessageType,
  Hl7ErrorCode.unsupportedEventCode,
  Hl7ErrorCode.unsupportedProcessingId,
  Hl7ErrorCode.unsupportedVersionId,
  Hl7ErrorCode.applicationRecordLocked,
  Hl7ErrorCode.applicationInternalError,
]);

export { formatHl7Timestamp };
