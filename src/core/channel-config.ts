/**
 * A channel, resolved: what the channel schema (src/core/channel-schema.ts) produces from a YAML
 * document once defaults are applied and durations are in milliseconds (STYLE.md "Configuration":
 * options compile into a resolved object where every field is set). Engine, connectors, the CLI
 * and the API all read this shape; only the schema reads YAML.
 */

/** A reference to a function in a JavaScript or TypeScript module, relative to the channel file. */
export interface ModuleRef {
  readonly module: string;
  /** Export name (default `default`). */
  readonly export: string;
}

/** A condition over a message (filters, `when` of steps and destinations). */
export type Condition =
  /** MSH-9 as `CODE^EVENT`; `*` matches any event (`ADT^*`) or any type (`*`). */
  | { readonly messageType: readonly string[] }
  | { readonly path: string; readonly equals: string }
  | { readonly path: string; readonly in: readonly string[] }
  /** A regular expression tested against the value. */
  | { readonly path: string; readonly matches: string }
  /** true: the value is present and not empty. */
  | { readonly path: string; readonly exists: boolean }
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] }
  | { readonly not: Condition }
  /** A module function `(message, context) => boolean | Promise<boolean>`. */
  | ModuleRef;

export type FilterStep =
  /** The message continues only when the condition holds; else it is filtered with `reason`. */
  | { readonly accept: Condition; readonly reason: string }
  /** The message is filtered with `reason` when the condition holds. */
  | { readonly reject: Condition; readonly reason: string };

export type TransformStep =
  | { readonly set: { readonly path: string; readonly value: string } }
  | { readonly copy: { readonly from: string; readonly to: string } }
  /**
   * Maps the value at `path` through `tables[table]`. A value not in the table: `keep` leaves it,
   * `default` writes `default`, `error` fails the message (SWB_ERR_PIPELINE_MAP_MISSING).
   */
  | { readonly map: { readonly path: string; readonly table: string; readonly onMissing: 'keep' | 'default' | 'error'; readonly default?: string } }
  /** Removes every segment with this id (e.g. `NTE`, `ZPI`). */
  | { readonly removeSegment: string }
  /** Runs `then` only when the condition holds. */
  | { readonly when: Condition; readonly then: readonly TransformStep[] }
  /**
   * Converts the HL7 v2 message into a FHIR R4 transaction Bundle (JSON) with the tenant's mapping
   * file (relative to the channel file). Later steps see FHIR JSON, not HL7. `validate` checks
   * every produced resource against FHIR R4 and fails the message when one is invalid.
   */
  | { readonly toFhir: { readonly tenant: string | undefined; readonly validate: boolean } }
  /** A module function `(message, context) => void | Hl7Message | string`, maybe async. */
  | ModuleRef;

export interface RetryConfig {
  /** Attempts in all, the first included (>= 1). */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly multiplier: number;
  /** 0..1: the share of each delay that is random. */
  readonly jitter: number;
}

export interface DestinationConfig {
  /** Unique within the channel; the queue's destination id is `<channel id>/<name>`. */
  readonly name: string;
  /** A registered destination kind: mllp, http, file, channel. */
  readonly kind: string;
  /** Validated by the kind's own settings reader when the channel is compiled. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Route: the destination gets a message only when this holds (e.g. by message type). */
  readonly when: Condition | undefined;
  /** Steps for this destination only, after the channel's transformers. */
  readonly transformers: readonly TransformStep[];
  readonly retry: RetryConfig;
  /** `key`: FIFO per ordering key (ARCHITECTURE.md invariant 4); `none`: no ordering. */
  readonly ordering: 'key' | 'none';
  /** A delivery that finally failed blocks its key (`block`) or is parked so the key flows. */
  readonly onError: 'block' | 'park';
  readonly concurrency: number;
  readonly timeoutMs: number;
}

export interface ChannelConfig {
  /** `[a-z0-9][a-z0-9_-]*`, at most 64 characters: used in ids, URLs and metrics labels. */
  readonly id: string;
  readonly name: string | undefined;
  readonly description: string | undefined;
  readonly enabled: boolean;
  readonly source: { readonly kind: string; readonly settings: Readonly<Record<string, unknown>> };
  readonly ack: {
    /**
     * `commit`: ACK after the durable commit (pipeline outcome stored in the same transaction);
     * `application`: the same commit, but a pipeline error answers AE instead of AA.
     */
    readonly mode: 'commit' | 'application';
    /** Validate against the message structure before accepting; invalid ones are AE and stored errored. */
    readonly validate: boolean;
  };
  /** HL7 path of the per-key FIFO key, a module function, or undefined for no ordering key. */
  readonly orderingKey: string | ModuleRef | undefined;
  readonly dedupe: {
    readonly enabled: boolean;
    /** A resend with the same sender + MSH-10 within this window is acknowledged, not stored again. */
    readonly windowMs: number;
  };
  readonly storage: {
    /** Content of processed messages is pruned after this (metadata stays). */
    readonly contentRetentionMs: number;
    /** Content of errored messages is pruned after this. */
    readonly erroredRetentionMs: number;
  };
  /** Code tables for `map` steps: table name -> from -> to. */
  readonly tables: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly filters: readonly FilterStep[];
  readonly transformers: readonly TransformStep[];
  readonly destinations: readonly DestinationConfig[];
}

/** The queue's destination id of a channel's destination. */
export function destinationId(channelId: string, name: string): string {
  return `${channelId}/${name}`;
}
