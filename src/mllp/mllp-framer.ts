import { SwitchboardError } from '../core/errors.ts';

/**
 * MLLP framing, HL7 v2 Appendix C "Minimal Lower Layer Protocol" release 2 (C.2.2 block format):
 *
 *   <SB> payload <EB><CR>      SB = 0x0B (VT), EB = 0x1C (FS), CR = 0x0D
 *
 * Rules this decoder applies (the spec says the payload never holds SB or EB, so these only decide
 * what happens with a misbehaving peer):
 *  - Bytes outside a frame (before an SB) are skipped and counted as junk: some senders put a CR or
 *    LF between frames, and a stream can start mid-frame after a reconnect.
 *  - An EB not followed by CR is payload data, not the end of the frame: release 2 defines the end
 *    as the two bytes EB CR, so only that pair ends a frame. The frame then reaches the HL7 parser,
 *    which answers it with an AR (the protocol's own error) instead of the transport guessing.
 *  - An SB inside a frame starts a new frame: the partial frame before it is dropped (counted as
 *    junk), so one truncated frame cannot swallow the next good one.
 *  - A payload longer than `maxFrameBytes` is refused: the error callback is called once, the bytes
 *    held so far are released, and the rest of that frame is discarded as it arrives, so memory stays
 *    bounded by the limit (ARCHITECTURE.md invariant 6).
 */

export const MLLP_START_BLOCK = 0x0b;
export const MLLP_END_BLOCK = 0x1c;
export const MLLP_CARRIAGE_RETURN = 0x0d;

/** Text encodings MLLP payloads are decoded with (MSH-18 picks the character set; the listener is configured to match). */
export type MllpEncoding = 'utf8' | 'latin1';

/** 16 MiB: large enough for an ORU carrying a base64 PDF in OBX-5, small enough to bound memory. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export interface MllpFramerOptions {
  /** Largest payload accepted, in bytes, excluding the 3 envelope bytes (default 16 MiB). */
  readonly maxFrameBytes?: number;
  /**
   * A complete frame's payload. The buffer is owned by the callee: a copy, or with `adoptChunks` a
   * view of a chunk that held little more than this frame.
   */
  readonly onFrame: (payload: Buffer) => void;
  /**
   * The caller hands each chunk over and never writes to it again, as with a socket's 'data'
   * chunks (each read gets memory of its own, sized to what was read). A frame that fills all but
   * a few bytes of its chunk's memory is then passed on as a view instead of being copied: it
   * pins nothing else. Default false: every payload is a copy.
   */
  readonly adoptChunks?: boolean;
  /** A protocol error: today only SWB_ERR_MLLP_FRAME_TOO_LARGE. Decoding continues after it. */
  readonly onError?: (error: SwitchboardError) => void;
  /** Bytes skipped outside a frame, or of a partial frame dropped because a new SB arrived. */
  readonly onJunk?: (bytes: number) => void;
}

export interface MllpFramerStats {
  readonly frames: number;
  readonly junkBytes: number;
  readonly oversizeFrames: number;
  /** Partial frames dropped because an SB arrived inside them. */
  readonly abortedFrames: number;
  /** EB bytes not followed by CR, kept as payload data. */
  readonly strayEndBlocks: number;
}

const State = {
  /** Between frames: looking for SB. */
  outside: 0,
  /** In a frame: looking for EB CR. */
  inside: 1,
  /** In a frame, and the previous chunk ended with EB: the next byte decides. */
  afterEndBlock: 2,
} as const;
type State = (typeof State)[keyof typeof State];

const END_BLOCK_BYTE = Buffer.of(MLLP_END_BLOCK);

/** With `adoptChunks`, how much memory beyond the payload a view may keep alive (the envelope, a stray LF). */
const ADOPT_SLACK_BYTES = 64;

/**
 * Incremental MLLP decoder. Feed it socket chunks with `push`; it calls `onFrame` once per complete
 * frame. Chunks of a frame are kept as a list of views and copied once when the frame ends, so a
 * frame split over many TCP segments costs one copy, and a chunk holding many frames costs none
 * beyond each frame's own copy.
 */
export class MllpFramer {
  readonly maxFrameBytes: number;
  readonly #onFrame: (payload: Buffer) => void;
  readonly #onError: ((error: SwitchboardError) => void) | undefined;
  readonly #onJunk: ((bytes: number) => void) | undefined;
  readonly #adoptChunks: boolean;

  #state: State = State.outside;
  #parts: Buffer[] = [];
  #size = 0;
  /** True while the rest of an oversize frame is being dropped. */
  #discarding = false;

  #frames = 0;
  #junkBytes = 0;
  #oversizeFrames = 0;
  #abortedFrames = 0;
  #strayEndBlocks = 0;

  constructor(options: MllpFramerOptions) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxFrameBytes must be a positive integer, got ${max}`);
    this.maxFrameBytes = max;
    this.#onFrame = options.onFrame;
    this.#onError = options.onError;
    this.#onJunk = options.onJunk;
    this.#adoptChunks = options.adoptChunks ?? false;
  }

  /** Payload bytes held for the frame in progress (never more than `maxFrameBytes`). */
  get bufferedBytes(): number {
    return this.#size;
  }

  /** True between an SB and its EB CR: a connection closing now loses a partial frame. */
  get inFrame(): boolean {
    return this.#state !== State.outside;
  }

  get stats(): MllpFramerStats {
    return {
      frames: this.#frames,
      junkBytes: this.#junkBytes,
      oversizeFrames: this.#oversizeFrames,
      abortedFrames: this.#abortedFrames,
      strayEndBlocks: this.#strayEndBlocks,
    };
  }

  /** Drops any partial frame and returns to the between-frames state. */
  reset(): void {
    this.#state = State.outside;
    this.#parts = [];
    this.#size = 0;
    this.#discarding = false;
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      switch (this.#state) {
        case State.outside: {
          const sb = chunk.indexOf(MLLP_START_BLOCK, pos);
          if (sb === -1) {
            this.#junk(len - pos);
            return;
          }
          if (sb > pos) this.#junk(sb - pos);
          this.#startFrame();
          pos = sb + 1;
          break;
        }
        case State.afterEndBlock: {
          if (chunk[pos] === MLLP_CARRIAGE_RETURN) {
            pos += 1;
            this.#endFrame();
          } else {
            // The EB that ended the previous chunk was data (see the rules above).
            this.#strayEndBlocks += 1;
            this.#append(END_BLOCK_BYTE);
            this.#state = State.inside;
          }
          break;
        }
        case State.inside: {
          const eb = chunk.indexOf(MLLP_END_BLOCK, pos);
          const stop = eb === -1 ? len : eb;
          // An SB before the EB (or the chunk end) restarts the frame.
          const sb = stop > pos ? chunk.subarray(pos, stop).indexOf(MLLP_START_BLOCK) : -1;
          if (sb !== -1) {
            this.#abortedFrames += 1;
            this.#junk(1 + this.#size + sb); // the old SB and the bytes kept after it
            this.#startFrame();
            pos += sb + 1;
            break;
          }
          if (eb === -1) {
            this.#append(chunk.subarray(pos));
            pos = len;
          } else if (eb + 1 === len) {
            // EB is the chunk's last byte: whether it ends the frame depends on the next chunk.
            this.#append(chunk.subarray(pos, eb));
            this.#state = State.afterEndBlock;
            pos = len;
          } else if (chunk[eb + 1] === MLLP_CARRIAGE_RETURN) {
            this.#append(chunk.subarray(pos, eb));
            pos = eb + 2;
            this.#endFrame();
          } else {
            this.#strayEndBlocks += 1;
            this.#append(chunk.subarray(pos, eb + 1));
            pos = eb + 1;
          }
          break;
        }
      }
    }
  }

  #junk(bytes: number): void {
    if (bytes <= 0) return;
    this.#junkBytes += bytes;
    this.#onJunk?.(bytes);
  }

  #startFrame(): void {
    this.#state = State.inside;
    this.#parts = [];
    this.#size = 0;
    this.#discarding = false;
  }

  #append(bytes: Buffer): void {
    if (this.#discarding || bytes.length === 0) return;
    if (this.#size + bytes.length > this.maxFrameBytes) {
      // Release what we hold and drop the rest of this frame as it arrives.
      this.#parts = [];
      this.#size = 0;
      this.#discarding = true;
      this.#oversizeFrames += 1;
      this.#onError?.(new SwitchboardError('SWB_ERR_MLLP_FRAME_TOO_LARGE', { limit: this.maxFrameBytes }));
      return;
    }
    this.#parts.push(bytes);
    this.#size += bytes.length;
  }

  #endFrame(): void {
    const parts = this.#parts;
    const size = this.#size;
    const discarded = this.#discarding;
    // State first: onFrame may throw, and the decoder must stay consistent if it does.
    this.#state = State.outside;
    this.#parts = [];
    this.#size = 0;
    this.#discarding = false;
    if (discarded) return;
    this.#frames += 1;
    // One copy per frame: callers may keep the payload (the engine stores it), and a view would pin
    // the whole socket chunk in memory. No copy when the chunk was (nearly) only this frame: the
    // common case of a sender that waits for each ACK, and a copy costs an allocation per message.
    let payload: Buffer;
    if (parts.length === 1) {
      const only = parts[0] as Buffer;
      payload = this.#adoptChunks && only.buffer.byteLength - only.length <= ADOPT_SLACK_BYTES ? only : Buffer.from(only);
    } else {
      payload = Buffer.concat(parts, size);
    }
    this.#onFrame(payload);
  }
}

/** Wraps a payload in the MLLP envelope: SB payload EB CR (HL7 v2 Appendix C.2.2). */
export function encodeMllpFrame(payload: string | Buffer, encoding: MllpEncoding = 'utf8'): Buffer {
  const bodyLength = typeof payload === 'string' ? Buffer.byteLength(payload, encoding) : payload.length;
  const out = Buffer.allocUnsafe(bodyLength + 3);
  out[0] = MLLP_START_BLOCK;
  if (typeof payload === 'string') out.write(payload, 1, encoding);
  else payload.copy(out, 1);
  out[bodyLength + 1] = MLLP_END_BLOCK;
  out[bodyLength + 2] = MLLP_CARRIAGE_RETURN;
  return out;
}
