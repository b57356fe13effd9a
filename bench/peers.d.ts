// Minimal types for the peer libraries that ship none, covering only what the benchmarks use.

declare module 'simple-hl7' {
  import type { Server as NetServer } from 'node:net';

  export interface Delimiters {
    fieldSeperator: string;
    componentSeperator: string;
    subcomponentSeperator: string;
    escapeCharacter: string;
    repititionCharacter: string;
    segmentSeperator: string;
  }

  /** A field: `value` holds one entry per repetition (a nested Field when the field repeats). */
  export interface Field {
    value: unknown[];
    toString(delimiters?: Delimiters): string;
  }

  export interface Segment {
    name: string;
    fields: Field[];
    /** 1-based field; with repeatIndex (1-based), one repetition of a repeating field. */
    getField(index: number, repeatIndex?: number): string;
    getComponent(fieldIndex: number, componentIndex: number, subComponentIndex?: number): string;
  }

  /** The MSH: its `fields` start at MSH-3. */
  export interface Header {
    delimiters: Delimiters;
    fields: Field[];
    getField(index: number, repeatIndex?: number): string;
    getComponent(fieldIndex: number, componentIndex: number, subComponentIndex?: number): string;
  }

  export interface Message {
    header: Header;
    segments: Segment[];
    getSegment(name: string): Segment | undefined;
    getSegments(name: string): Segment[];
    toString(): string;
  }

  export class Parser {
    constructor(options?: { segmentSeperator?: string });
    parse(text: string): Message;
  }

  export interface TcpRequest {
    msg: Message;
    raw: string;
  }

  export interface TcpResponse {
    ack: Message;
    end(): void;
  }

  export interface TcpServer {
    /** The node:net server, set by start(). */
    server: NetServer | null;
    start(port: number, encoding?: string): void;
    stop(): void;
  }

  export const Server: {
    createTcpServer(handler: (err: unknown, req?: TcpRequest, res?: TcpResponse) => void): TcpServer;
    createTcpServer(options: { parser?: Parser }, handler: (err: unknown, req?: TcpRequest, res?: TcpResponse) => void): TcpServer;
  };
}
