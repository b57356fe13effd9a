/**
 * The audit log: who did what to which message, delivery or channel (operator retries, resolves,
 * replays, channel applies). Append-only. Details carry ids and counts, never message content
 * (ARCHITECTURE.md invariant 7).
 */

export interface AuditEntry {
  readonly id: string;
  readonly at: Date;
  /** Who: a user, a token's subject, `cli:<os user>`. */
  readonly actor: string;
  /** e.g. `delivery.retry`, `delivery.resolve`, `replay.run`, `channel.apply`. */
  readonly action: string;
  /** What it acted on: a message, delivery or channel id, or a query's description. */
  readonly target: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AuditLog {
  append(entry: Omit<AuditEntry, 'id' | 'at'> & { readonly at?: Date }): Promise<AuditEntry>;
  /** Newest first. */
  list(query?: { action?: string; target?: string; limit?: number }): Promise<AuditEntry[]>;
}
