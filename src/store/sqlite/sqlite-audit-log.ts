import type Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import { newSortableId } from '../../core/ids.ts';
import type { AuditEntry, AuditLog } from '../../core/ports/audit-log.ts';
import { auditLimit, invalidAuditEntry } from '../port-input.ts';
import { guarded } from './sqlite-store-errors.ts';

interface AuditRow {
  id: string;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: string;
}

function entryOf(row: AuditRow): AuditEntry {
  return { id: row.id, at: new Date(row.at), actor: row.actor, action: row.action, target: row.target, detail: JSON.parse(row.detail) as AuditEntry['detail'] };
}

/** The audit log on SQLite: append-only rows, listed newest first (time, then insertion order). */
export class SqliteAuditLog implements AuditLog {
  readonly #db: Database.Database;
  readonly #clock: () => Date;
  readonly #insert: Database.Statement<[string, number, string, string, string, string]>;

  constructor(db: Database.Database, options: { clock?: () => Date } = {}) {
    this.#db = db;
    this.#clock = options.clock ?? (() => new Date());
    this.#insert = db.prepare('INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)');
  }

  async append(entry: Omit<AuditEntry, 'id' | 'at'> & { readonly at?: Date }): Promise<AuditEntry> {
    const reason = invalidAuditEntry(entry);
    if (reason !== undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
    const at = entry.at ?? this.#clock();
    const stored: AuditEntry = { id: newSortableId(this.#clock().getTime()), at, actor: entry.actor, action: entry.action, target: entry.target, detail: { ...entry.detail } };
    guarded(() => this.#insert.run(stored.id, at.getTime(), stored.actor, stored.action, stored.target, JSON.stringify(stored.detail)));
    return stored;
  }

  async list(query: { action?: string; target?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.action !== undefined) {
      where.push('action = ?');
      params.push(query.action);
    }
    if (query.target !== undefined) {
      where.push('target = ?');
      params.push(query.target);
    }
    const sql = `SELECT id, at, actor, action, target, detail FROM audit_log${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}
      ORDER BY at DESC, seq DESC LIMIT ?`;
    return guarded(() => this.#db.prepare<unknown[], AuditRow>(sql).all(...params, auditLimit(query.limit))).map(entryOf);
  }
}
