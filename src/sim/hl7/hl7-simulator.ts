import { buildAckText, buildRejectAck } from '../../hl7v2/hl7-ack.ts';
import { parseMessage } from '../../hl7v2/hl7-message.ts';
import { Hl7ErrorCode } from '../../hl7v2/hl7-parse-error.ts';
import { MllpServer } from '../../mllp/mllp-server.ts';

/**
 * An HL7 v2 peer to send to (issue 6 "EHR simulators"): an MLLP receiver that answers every message
 * with an original-mode application ACK of the current mode (HL7 v2.5.1 ch.2 2.9.2): AA accepted,
 * AE application error (the sender must not resend it unchanged), AR reject (may be resent), or
 * `none`: no reply at all, which the sender can only treat as ambiguous. `enqueue` scripts the
 * next replies; after them the simulator answers with `mode` again. Everything it received is kept
 * in memory for tests to inspect.
 */

export const HL7_SIM_MODES = ['AA', 'AE', 'AR', 'none'] as const;
export type Hl7SimMode = (typeof HL7_SIM_MODES)[number];

export interface Hl7SimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Default AA. */
  mode?: Hl7SimMode;
}

export interface Hl7Received {
  controlId: string;
  /** MSH-9 as sent, e.g. `MDM^T02^MDM_T02`. */
  type: string;
  at: string;
  text: string;
}

export interface Hl7Simulator {
  host: string;
  port: number;
  setMode(mode: Hl7SimMode): void;
  /** The next replies, in order; then back to the current mode. */
  enqueue(...modes: Hl7SimMode[]): void;
  received(): Hl7Received[];
  close(): Promise<void>;
}

function assertMode(mode: unknown): asserts mode is Hl7SimMode {
  if (!(HL7_SIM_MODES as readonly unknown[]).includes(mode)) throw new RangeError(`mode must be one of ${HL7_SIM_MODES.join(', ')}; got ${String(mode)}`);
}

export function isHl7SimMode(value: unknown): value is Hl7SimMode {
  return (HL7_SIM_MODES as readonly unknown[]).includes(value);
}

export async function startHl7Simulator(options: Hl7SimulatorOptions = {}): Promise<Hl7Simulator> {
  let mode: Hl7SimMode = options.mode ?? 'AA';
  assertMode(mode);
  const queue: Hl7SimMode[] = [];
  const received: Hl7Received[] = [];
  const host = options.host ?? '127.0.0.1';

  const server = new MllpServer({
    host,
    port: options.port ?? 0,
    // A test peer: close() should not wait long for senders that keep their connection open.
    closeTimeoutMs: 1000,
    handler: async (message) => {
      let parsed;
      try {
        parsed = parseMessage(message.payload);
      } catch {
        // Not HL7 we can read: recorded as is, and answered AR whatever the mode (ch.2 2.9.2).
        received.push({ controlId: '', type: '', at: message.receivedAt.toISOString(), text: message.payload });
        return buildRejectAck(message.payload, { hl7Code: Hl7ErrorCode.segmentSequenceError, message: 'the message could not be parsed' }).toString({ terminator: '\r', bom: false });
      }
      const msh = parsed.segment('MSH');
      received.push({ controlId: msh?.rawAt(10) ?? '', type: msh?.rawAt(9) ?? '', at: message.receivedAt.toISOString(), text: message.payload });
      const reply = queue.shift() ?? mode;
      switch (reply) {
        case 'none':
          return undefined;
        case 'AA':
          return buildAckText(parsed, { code: 'AA', sendingApplication: 'SWB-SIM' });
        case 'AE':
          return buildAckText(parsed, {
            code: 'AE',
            text: 'simulated application error',
            sendingApplication: 'SWB-SIM',
            errors: [{ code: Hl7ErrorCode.applicationInternalError, severity: 'E', message: 'simulated application error (AE)' }],
          });
        case 'AR':
          return buildAckText(parsed, {
            code: 'AR',
            text: 'simulated reject',
            sendingApplication: 'SWB-SIM',
            errors: [{ code: Hl7ErrorCode.applicationRecordLocked, severity: 'E', message: 'simulated reject (AR): try again later' }],
          });
      }
    },
  });
  await server.listen();

  return {
    host,
    port: server.port,
    setMode: (next) => {
      assertMode(next);
      mode = next;
    },
    enqueue: (...modes) => {
      for (const m of modes) assertMode(m);
      queue.push(...modes);
    },
    received: () => received.map((r) => ({ ...r })),
    close: () => server.close(),
  };
}
