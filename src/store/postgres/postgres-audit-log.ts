import type pg from 'pg';
import { SwitchboardError } from '../../core/errors.ts';
import { newSortableId } from '../../core/ids.ts';
import type { AuditEntry, AuditLog } from '../../core/ports/audit-log.ts';
import { auditLimit, invalidAuditEntry } from '../port-input.ts';
import { queryRows } from './postgres-transaction.ts';

interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string;
  detail: AuditEntry['detail'];
}

/** The audit log on PostgreSQL: append-only rows, listed newest first (time, then insertion order). */
export class PostgresAuditLog implements AuditLog {
  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async append(entry: Omit<AuditEntry, 'id' | 'at'> & { readonly at?: Date }): Promise<AuditEntry> {
    const reason = invalidAuditEntry(entry);
    if (reason !== undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
    const at = entry.at ?? this.clock();
    const stored: AuditEntry = { id: newSortableId(this.clock().getTime()), at, actor: entry.actor, action: entry.action, target: entry.target, detail: { ...entry.detail } };
    await queryRows(this.pool, 'INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)', [
      stored.id,
      at,
      stored.actor,
      stored.action,
      stored.target,
      JSON.stringify(stored.detail),
    ]);
    return stored;
  }

  async list(query: { action?: string; target?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const result = await queryRows<AuditRow>(
      this.pool,
      `SELECT id, at, actor, action, target, detail FROM audit_log
       WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR target = $2)
       ORDER BY at DESC, seq DESC LIMIT $3`,
      [query.action ?? null, query.target ?? null, auditLimit(query.limit)],
    );
    return result.rows.map((row) => ({ id: row.id, at: row.at, actor: row.actor, action: row.action, target: row.target, detail: row.detail }));
  }
}
