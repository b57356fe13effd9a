import type { AuditEntry } from '../core/ports/audit-log.ts';

/** Input checks shared by both stores' ChannelRevisionStore and AuditLog, so they refuse alike. */

const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v !== '';

export function invalidApply(input: { channelId: unknown; document: unknown; hash: unknown; author: unknown; comment?: unknown; at?: unknown }): string | undefined {
  if (!nonEmpty(input.channelId)) return 'channelId must be a non-empty string';
  if (typeof input.document !== 'string') return 'document must be a string';
  if (!nonEmpty(input.hash)) return 'hash must be a non-empty string';
  if (typeof input.author !== 'string') return 'author must be a string';
  if (input.comment !== undefined && typeof input.comment !== 'string') return 'comment must be a string';
  if (input.at !== undefined && (!(input.at instanceof Date) || Number.isNaN(input.at.getTime()))) return 'at must be a valid Date';
  return undefined;
}

export function invalidAuditEntry(entry: Omit<AuditEntry, 'id' | 'at'> & { readonly at?: Date }): string | undefined {
  if (!nonEmpty(entry.actor)) return 'actor must be a non-empty string';
  if (!nonEmpty(entry.action)) return 'action must be a non-empty string';
  if (typeof entry.target !== 'string') return 'target must be a string';
  if (entry.at !== undefined && (!(entry.at instanceof Date) || Number.isNaN(entry.at.getTime()))) return 'at must be a valid Date';
  if (typeof entry.detail !== 'object' || entry.detail === null || Array.isArray(entry.detail)) return 'detail must be an object';
  for (const value of Object.values(entry.detail)) {
    const t = typeof value;
    if (value !== null && t !== 'string' && t !== 'boolean' && !(t === 'number' && Number.isFinite(value))) return 'detail values must be strings, finite numbers, booleans or null';
  }
  return undefined;
}

/** Page size of AuditLog.list: default and cap. */
export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;

export function auditLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return AUDIT_DEFAULT_LIMIT;
  return Math.min(AUDIT_MAX_LIMIT, Math.max(1, Math.floor(limit)));
}
