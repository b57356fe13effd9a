import type Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import type { ApplyResult, ChannelRevision, ChannelRevisionStore } from '../../core/ports/channel-revisions.ts';
import { revisionOf, type RevisionRow } from '../channel-revision-row.ts';
import { invalidApply } from '../port-input.ts';
import { guarded } from './sqlite-store-errors.ts';

/**
 * Channel revisions on SQLite. `apply` reads the latest revision and writes the next one inside
 * BEGIN IMMEDIATE, which holds the database's one write lock: two applies (in this process or
 * another sharing the file) cannot both read revision N.
 */
export class SqliteChannelRevisionStore implements ChannelRevisionStore {
  readonly #db: Database.Database;
  readonly #clock: () => Date;
  readonly #stmt: {
    latest: Database.Statement<[string], RevisionRow>;
    get: Database.Statement<[string, number], RevisionRow>;
    history: Database.Statement<[string], RevisionRow>;
    list: Database.Statement<[], RevisionRow>;
    insert: Database.Statement<[string, number, string, string, string, string | null, number]>;
  };

  constructor(db: Database.Database, options: { clock?: () => Date } = {}) {
    this.#db = db;
    this.#clock = options.clock ?? (() => new Date());
    this.#stmt = {
      latest: db.prepare('SELECT * FROM channel_revisions WHERE channel_id = ? ORDER BY revision DESC LIMIT 1'),
      get: db.prepare('SELECT * FROM channel_revisions WHERE channel_id = ? AND revision = ?'),
      history: db.prepare('SELECT * FROM channel_revisions WHERE channel_id = ? ORDER BY revision DESC'),
      list: db.prepare(`SELECT r.* FROM channel_revisions r
        WHERE r.revision = (SELECT MAX(x.revision) FROM channel_revisions x WHERE x.channel_id = r.channel_id) ORDER BY r.channel_id`),
      insert: db.prepare('INSERT INTO channel_revisions (channel_id, revision, document, hash, author, comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    };
  }

  async apply(input: { channelId: string; document: string; hash: string; author: string; comment?: string; at?: Date }): Promise<ApplyResult> {
    const reason = invalidApply(input);
    if (reason !== undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
    const createdAt = (input.at ?? this.#clock()).getTime();
    return guarded(() =>
      this.#db
        .transaction((): ApplyResult => {
          const latest = this.#stmt.latest.get(input.channelId);
          if (latest !== undefined && latest.hash === input.hash) return { kind: 'unchanged', revision: revisionOf(latest) };
          const row: RevisionRow = {
            channel_id: input.channelId,
            revision: (latest?.revision ?? 0) + 1,
            document: input.document,
            hash: input.hash,
            author: input.author,
            comment: input.comment ?? null,
            created_at: createdAt,
          };
          this.#stmt.insert.run(row.channel_id, row.revision, row.document, row.hash, row.author, row.comment, createdAt);
          return { kind: 'created', revision: revisionOf(row) };
        })
        .immediate(),
    );
  }

  async latest(channelId: string): Promise<ChannelRevision | undefined> {
    const row = guarded(() => this.#stmt.latest.get(channelId));
    return row === undefined ? undefined : revisionOf(row);
  }

  async get(channelId: string, revision: number): Promise<ChannelRevision | undefined> {
    if (!Number.isSafeInteger(revision)) return undefined;
    const row = guarded(() => this.#stmt.get.get(channelId, revision));
    return row === undefined ? undefined : revisionOf(row);
  }

  async history(channelId: string): Promise<ChannelRevision[]> {
    return guarded(() => this.#stmt.history.all(channelId)).map(revisionOf);
  }

  async list(): Promise<ChannelRevision[]> {
    return guarded(() => this.#stmt.list.all()).map(revisionOf);
  }
}
