// Public surface of the HL7 v2 module.
export * from './hl7-encoding.ts';
export * from './hl7-escape.ts';
export * from './hl7-path.ts';
export * from './hl7-parse-error.ts';
export * from './hl7-segment.ts';
export * from './hl7-message.ts';
export * from './hl7-batch.ts';
export * from './hl7-datatypes.ts';
export { AckCode, AckCondition, ackRequirements, ackDue, ackCodeFor, ackContextOf, ackContextOfText, buildAck, buildAckText, buildRejectAck, summarizeAck } from './hl7-ack.ts';
export type { AckRequirements, AckOutcome, AckError, AckOptions, AckContext, AckSummary, ErrorSeverity } from './hl7-ack.ts';
export * from './hl7-structures.ts';
export * from './hl7-structure-parser.ts';
export * from './hl7-validator.ts';
