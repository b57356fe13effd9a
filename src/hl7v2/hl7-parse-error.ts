import { SwitchboardError, type ErrorCode, type ErrorParams } from '../core/errors.ts';

/**
 * Where in a message a problem is, in HL7's own terms (HL7 v2.5.1 ch.2 2.15.5 ERR-2, datatype ERL):
 * segment id, its sequence in the message (1-based), then field, repetition, component and
 * subcomponent positions (1-based). `line` is the 1-based segment line in the input.
 */
export interface Hl7Location {
  readonly segment: string;
  readonly sequence?: number;
  /**
   * 1-based occurrence of this segment id in the message (the 2nd OBX is 2): what ERL.2 "segment
   * sequence" means in ERR-2 (HL7 v2.5.1 ch.2A ERL). When absent, ACKs fall back to `sequence`.
   */
  readonly occurrence?: number;
  readonly field?: number;
  readonly repetition?: number;
  readonly component?: number;
  readonly subcomponent?: number;
  readonly line?: number;
}

/** HL7 table 0357 "Message error condition codes" (v2.5.1 ch.2C). */
export const Hl7ErrorCode = {
  accepted: '0',
  segmentSequenceError: '100',
  requiredFieldMissing: '101',
  dataTypeError: '102',
  tableValueNotFound: '103',
  valueTooLong: '104',
  unsupportedMessageType: '200',
  unsupportedEventCode: '201',
  unsupportedProcessingId: '202',
  unsupportedVersionId: '203',
  unknownKeyIdentifier: '204',
  duplicateKeyIdentifier: '205',
  applicationRecordLocked: '206',
  applicationInternalError: '207',
} as const;
export type Hl7ErrorCode = (typeof Hl7ErrorCode)[keyof typeof Hl7ErrorCode];

export const HL7_ERROR_TEXT: Readonly<Record<Hl7ErrorCode, string>> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '104': 'Value too long',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

/** Renders a location the way people read it: `PID[1]-3[2].1.2`. */
export function formatLocation(loc: Hl7Location): string {
  let s = loc.segment;
  if (loc.sequence !== undefined) s += `[${loc.sequence}]`;
  if (loc.field !== undefined) {
    s += `-${loc.field}`;
    if (loc.repetition !== undefined) s += `[${loc.repetition}]`;
    if (loc.component !== undefined) s += `.${loc.component}`;
    if (loc.subcomponent !== undefined) s += `.${loc.subcomponent}`;
  }
  return s;
}

/** A parse failure: a registry code, a location, and the table 0357 code an ACK's ERR-3 carries. */
export class Hl7ParseError extends SwitchboardError {
  readonly location: Hl7Location | undefined;
  readonly hl7Code: Hl7ErrorCode;

  constructor(code: ErrorCode, params: ErrorParams, location?: Hl7Location, hl7Code: Hl7ErrorCode = Hl7ErrorCode.segmentSequenceError) {
    super(code, { ...params, ...(location ? { location: formatLocation(location) } : {}) });
    this.name = 'Hl7ParseError';
    this.location = location;
    this.hl7Code = hl7Code;
    if (location) this.message = `${formatLocation(location)}: ${this.message}`;
  }
}
