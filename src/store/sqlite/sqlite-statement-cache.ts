import type Database from 'better-sqlite3';

/**
 * Statements prepared once per connection and kept by their SQL: better-sqlite3's prepare()
 * compiles the SQL on every call. Bounded: past `limit` the oldest statement is dropped (SQL that
 * varies with its input, such as a search with a changing number of parameters, cannot fill memory).
 */
export class SqliteStatementCache {
  readonly #db: Database.Database;
  readonly #limit: number;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database, limit: number) {
    this.#db = db;
    this.#limit = Math.max(1, limit);
  }

  get<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      if (this.#statements.size >= this.#limit) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sql, statement);
    }
    return statement as Database.Statement<P, R>;
  }
}
