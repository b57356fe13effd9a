/**
 * Just enough ER7 reading for the transport to match an ACK to the message it answers: MSH-10 of
 * the message, and MSA-1/2/3 plus the first ERR's code and text of the reply. The full parser lives
 * in src/hl7v2; this peek builds no tree on the client's hot path, and never throws.
 *
 * Delimiters come from the message itself (HL7 v2.5.1 ch.2 2.5.4): the field separator is MSH-1,
 * the 4th character; MSH-2 holds component, repetition, escape and subcomponent characters.
 */

import { AckCode } from '../hl7v2/hl7-ack.ts';

// HL7 table 0008: the one definition is the ACK builder's.
export { AckCode };

export function isAckCode(value: string): value is AckCode {
  return Object.prototype.hasOwnProperty.call(AckCode, value);
}

export interface Er7Peek {
  /** MSH-10, message control id; undefined when absent or empty. */
  readonly controlId: string | undefined;
  /** The MSA segment, when the text has one. */
  readonly msa: Er7MsaPeek | undefined;
  /** The first ERR segment, when there is one. */
  readonly err: Er7ErrPeek | undefined;
  /** MSH-15 (accept acknowledgment type) and MSH-16 (application acknowledgment type), as sent. */
  readonly acceptAck: string;
  readonly applicationAck: string;
}

export interface Er7MsaPeek {
  /** MSA-1 as written (may be outside table 0008; the caller checks with isAckCode). */
  readonly code: string;
  /** MSA-2, the control id of the message acknowledged. */
  readonly controlId: string;
  /** MSA-3, text message (withdrawn after v2.4 but still sent). */
  readonly text: string;
}

export interface Er7ErrPeek {
  /** ERR-3.1 (v2.5+ HL7 error code, table 0357), else ERR-1.4.1 (v2.3/2.4 ELD code). */
  readonly code: string;
  /** ERR-3.2, ERR-8 or ERR-1.4.2, the first that is set. */
  readonly text: string;
}

const NONE: Er7Peek = { controlId: undefined, msa: undefined, err: undefined, acceptAck: '', applicationAck: '' };

/** Reads MSH-10, MSA and the first ERR. Returns undefineds for text that is not ER7 with an MSH. */
export function peekEr7(text: string): Er7Peek {
  if (!text.startsWith('MSH') || text.length < 8) return NONE;
  const fieldSep = text.charAt(3);
  const componentSep = text.charAt(4);
  const repetitionSep = text.charAt(5);
  const subcomponentSep = text.charAt(7);
  let controlId: string | undefined;
  let msa: Er7MsaPeek | undefined;
  let err: Er7ErrPeek | undefined;
  let acceptAck = '';
  let applicationAck = '';
  // Segments end with CR (ch.2 2.5.2); LF and CRLF are tolerated because files and some peers use them.
  for (const segment of text.split(/\r\n|\r|\n/)) {
    const id = segment.slice(0, 3);
    if (id === 'MSH' && controlId === undefined) {
      // MSH-1 is the separator itself, so split index i holds MSH-(i+1).
      const f = segment.split(fieldSep);
      const value = f[9];
      controlId = value === undefined || value === '' ? undefined : value;
      acceptAck = (f[14] ?? '').trim().toUpperCase();
      applicationAck = (f[15] ?? '').trim().toUpperCase();
    } else if (id === 'MSA' && msa === undefined) {
      const f = segment.split(fieldSep);
      msa = { code: f[1] ?? '', controlId: f[2] ?? '', text: f[3] ?? '' };
    } else if (id === 'ERR' && err === undefined) {
      const f = segment.split(fieldSep);
      const err3 = (f[3] ?? '').split(componentSep);
      const err1Code = (((f[1] ?? '').split(repetitionSep)[0] ?? '').split(componentSep)[3] ?? '').split(subcomponentSep);
      err = {
        code: err3[0] || err1Code[0] || '',
        text: err3[1] || f[8] || err1Code[1] || '',
      };
    }
  }
  return { controlId, msa, err, acceptAck, applicationAck };
}
