import type pg from 'pg';
import { SwitchboardError } from '../../core/errors.ts';
import type { ApplyResult, ChannelRevision, ChannelRevisionStore } from '../../core/ports/channel-revisions.ts';
import { revisionOf, type RevisionRow } from '../channel-revision-row.ts';
import { invalidApply } from '../port-input.ts';
import { queryRows, withTransaction } from './postgres-transaction.ts';

// Advisory lock class for channel applies, second key hashtext(channel id).
const APPLY_LOCK_CLASS = 0x5357_4203;

/**
 * Channel revisions on PostgreSQL. `apply` takes a transaction-scoped advisory lock per channel
 * before reading the latest revision: under READ COMMITTED the read that follows the lock sees
 * whatever the previous holder committed, so concurrent applies of one channel (from any engine
 * process) number their revisions N+1, N+2, and an equal hash is seen as unchanged.
 */
export class PostgresChannelRevisionStore implements ChannelRevisionStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async apply(input: { channelId: string; document: string; hash: string; author: string; comment?: string; at?: Date }): Promise<ApplyResult> {
    const reason = invalidApply(input);
    if (reason !== undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
    const createdAt = input.at ?? this.clock();
    return withTransaction(this.pool, async (client): Promise<ApplyResult> => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [APPLY_LOCK_CLASS, input.channelId]);
      const latest = (await client.query<RevisionRow>('SELECT * FROM channel_revisions WHERE channel_id = $1 ORDER BY revision DESC LIMIT 1', [input.channelId])).rows[0];
      if (latest !== undefined && latest.hash === input.hash) return { kind: 'unchanged', revision: revisionOf(latest) };
      const inserted = await client.query<RevisionRow>(
        `INSERT INTO channel_revisions (channel_id, revision, document, hash, author, comment, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [input.channelId, (latest?.revision ?? 0) + 1, input.document, input.hash, input.author, input.comment ?? null, createdAt],
      );
      return { kind: 'created', revision: revisionOf(inserted.rows[0] as RevisionRow) };
    });
  }

  async latest(channelId: string): Promise<ChannelRevision | undefined> {
    const row = (await queryRows<RevisionRow>(this.pool, 'SELECT * FROM channel_revisions WHERE channel_id = $1 ORDER BY revision DESC LIMIT 1', [channelId])).rows[0];
    return row === undefined ? undefined : revisionOf(row);
  }

  async get(channelId: string, revision: number): Promise<ChannelRevision | undefined> {
    if (!Number.isSafeInteger(revision) || Math.abs(revision) > 2 ** 31 - 1) return undefined;
    const row = (await queryRows<RevisionRow>(this.pool, 'SELECT * FROM channel_revisions WHERE channel_id = $1 AND revision = $2', [channelId, revision])).rows[0];
    return row === undefined ? undefined : revisionOf(row);
  }

  async history(channelId: string): Promise<ChannelRevision[]> {
    return (await queryRows<RevisionRow>(this.pool, 'SELECT * FROM channel_revisions WHERE channel_id = $1 ORDER BY revision DESC', [channelId])).rows.map(revisionOf);
  }

  async list(): Promise<ChannelRevision[]> {
    const result = await queryRows<RevisionRow>(this.pool, 'SELECT DISTINCT ON (channel_id) * FROM channel_revisions ORDER BY channel_id, revision DESC');
    return result.rows.map(revisionOf);
  }
}
