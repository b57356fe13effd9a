import { MessageStatus, type MessageEvent, type MessageQuery, type MessageSummary, type StoredMessage } from '../core/ports/message-store.ts';

/**
 * The message search parameters shared by `GET /api/v1/messages` and `switchboard messages search`,
 * parsed from text into a MessageQuery. Parsing reports the offending parameter instead of
 * throwing, so each edge can speak its own error (HTTP 400 problem JSON, CLI exit 2).
 */
export const MESSAGE_QUERY_PARAMS = ['channel', 'status', 'type', 'controlId', 'patientId', 'correlationId', 'from', 'to', 'text', 'limit', 'cursor'] as const;
export type MessageQueryParam = (typeof MESSAGE_QUERY_PARAMS)[number];

export type MessageQueryParse =
  | { readonly kind: 'ok'; readonly query: MessageQuery }
  | { readonly kind: 'invalid'; readonly param: MessageQueryParam; readonly reason: string };

/** Page size bounds of the MessageStore port. */
export const MAX_LIMIT = 500;
const MAX_ID_CHARS = 256;
const MAX_TEXT_CHARS = 1000;
const STATUSES: readonly string[] = Object.values(MessageStatus);
// A date (UTC midnight) or a date-time with an explicit offset: a bare local time would mean
// different instants on the operator's laptop and on the server (ISO 8601 / RFC 3339 5.6).
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
// Cursors are the store's opaque base64url tokens.
const CURSOR = /^[A-Za-z0-9_-]{1,1024}$/;

export function parseMessageQueryParams(input: Readonly<Partial<Record<MessageQueryParam, string>>>): MessageQueryParse {
  const query: { -readonly [K in keyof MessageQuery]: MessageQuery[K] } = {};
  const invalid = (param: MessageQueryParam, reason: string): MessageQueryParse => ({ kind: 'invalid', param, reason });
  const ids: ReadonlyArray<readonly [MessageQueryParam, 'channelId' | 'messageType' | 'controlId' | 'patientId' | 'correlationId']> = [
    ['channel', 'channelId'],
    ['type', 'messageType'],
    ['controlId', 'controlId'],
    ['patientId', 'patientId'],
    ['correlationId', 'correlationId'],
  ];
  for (const [param, key] of ids) {
    const value = input[param];
    if (value === undefined) continue;
    if (value === '' || value.length > MAX_ID_CHARS) return invalid(param, `must be 1-${MAX_ID_CHARS} characters`);
    query[key] = value;
  }
  if (input.status !== undefined) {
    const statuses = input.status.split(',');
    const bad = statuses.find((s) => !STATUSES.includes(s));
    if (bad !== undefined) return invalid('status', `must be one or more (comma-separated) of ${STATUSES.join(', ')}, got ${JSON.stringify(bad)}`);
    const unique = [...new Set(statuses)] as MessageStatus[];
    const [only, ...more] = unique;
    query.status = only !== undefined && more.length === 0 ? only : unique;
  }
  for (const param of ['from', 'to'] as const) {
    const value = input[param];
    if (value === undefined) continue;
    const ms = ISO_INSTANT.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms)) return invalid(param, `must be an ISO 8601 date (2024-03-05) or date-time with an offset (2024-03-05T10:30:00Z), got ${JSON.stringify(value)}`);
    query[param] = new Date(ms);
  }
  if (query.from !== undefined && query.to !== undefined && query.from.getTime() >= query.to.getTime()) return invalid('to', 'must be later than from');
  if (input.text !== undefined) {
    if (input.text.trim() === '' || input.text.length > MAX_TEXT_CHARS) return invalid('text', `must be 1-${MAX_TEXT_CHARS} characters`);
    query.text = input.text;
  }
  if (input.limit !== undefined) {
    const n = /^\d{1,4}$/.test(input.limit) ? Number(input.limit) : Number.NaN;
    if (!(n >= 1 && n <= MAX_LIMIT)) return invalid('limit', `must be an integer 1-${MAX_LIMIT}, got ${JSON.stringify(input.limit)}`);
    query.limit = n;
  }
  if (input.cursor !== undefined) {
    if (!CURSOR.test(input.cursor)) return invalid('cursor', 'is not a cursor returned by a previous search');
    query.cursor = input.cursor;
  }
  return { kind: 'ok', query };
}

/**
 * A message in a search result: identifiers, status and sizes. No content and no patient
 * identifiers (patient ids, the ordering key): lists are the widest view, so they carry the least
 * (ARCHITECTURE.md invariant 7). The detail view below has the rest.
 */
export function messageSummaryJson(m: MessageSummary): Record<string, unknown> {
  return {
    id: m.id,
    receivedAt: m.receivedAt.toISOString(),
    channelId: m.channelId,
    messageType: m.messageType ?? null,
    controlId: m.controlId ?? null,
    status: m.status,
    statusReason: m.statusReason ?? null,
    correlationId: m.correlationId,
    contentType: m.contentType,
    contentBytes: m.contentBytes ?? null,
    source: m.source,
    sendingFacility: m.sendingFacility ?? null,
    configRevision: m.configRevision,
    updatedAt: m.updatedAt.toISOString(),
  };
}

/** One message with its content and history: an explicit request for one message (PHI). */
export function messageDetailJson(m: StoredMessage, events: readonly MessageEvent[]): Record<string, unknown> {
  return {
    id: m.id,
    receivedAt: m.receivedAt.toISOString(),
    channelId: m.channelId,
    messageType: m.messageType ?? null,
    controlId: m.controlId ?? null,
    status: m.status,
    statusReason: m.statusReason ?? null,
    correlationId: m.correlationId,
    contentType: m.contentType,
    source: m.source,
    sendingFacility: m.sendingFacility ?? null,
    orderingKey: m.orderingKey ?? null,
    patientIds: [...m.patientIds],
    configRevision: m.configRevision,
    updatedAt: m.updatedAt.toISOString(),
    // null once retention pruned it (metadata outlives content).
    content: m.content ?? null,
    events: events.map((e) => ({ at: e.at.toISOString(), type: e.type, deliveryId: e.deliveryId ?? null, detail: e.detail ?? null })),
  };
}
