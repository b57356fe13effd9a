import type { ChannelRevision } from '../core/ports/channel-revisions.ts';

/** A `channel_revisions` row as both stores read it (SQLite keeps ms, PostgreSQL a timestamptz). */
export interface RevisionRow {
  channel_id: string;
  revision: number;
  document: string;
  hash: string;
  author: string;
  comment: string | null;
  created_at: number | Date;
}

export function revisionOf(row: RevisionRow): ChannelRevision {
  return {
    channelId: row.channel_id,
    revision: row.revision,
    document: row.document,
    hash: row.hash,
    author: row.author,
    comment: row.comment ?? undefined,
    createdAt: new Date(row.created_at),
  };
}
