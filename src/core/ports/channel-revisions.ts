/**
 * Channel revisions (ARCHITECTURE.md invariant 8): every change of a channel's config is kept as a
 * numbered revision with who and when; messages record the revision they ran under, and replay can
 * run under any kept revision. The document is the channel's deterministic YAML export, so two
 * revisions diff line by line.
 */

export interface ChannelRevision {
  readonly channelId: string;
  /** 1, 2, 3... per channel. */
  readonly revision: number;
  /** The canonical YAML (stable key order). */
  readonly document: string;
  /** sha256 of the document and of every module it references, hex: equal hashes, no change. */
  readonly hash: string;
  readonly author: string;
  readonly comment: string | undefined;
  readonly createdAt: Date;
}

export type ApplyResult =
  | { readonly kind: 'created'; readonly revision: ChannelRevision }
  /** Same hash as the latest revision: nothing stored. */
  | { readonly kind: 'unchanged'; readonly revision: ChannelRevision };

export interface ChannelRevisionStore {
  /** Stores a new revision unless `hash` equals the latest one's. Safe under concurrency. */
  apply(input: { channelId: string; document: string; hash: string; author: string; comment?: string; at?: Date }): Promise<ApplyResult>;
  latest(channelId: string): Promise<ChannelRevision | undefined>;
  get(channelId: string, revision: number): Promise<ChannelRevision | undefined>;
  /** Revisions of a channel, newest first. */
  history(channelId: string): Promise<ChannelRevision[]>;
  /** The latest revision of every channel, by channel id. */
  list(): Promise<ChannelRevision[]>;
}
