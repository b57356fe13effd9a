import type { Command } from 'commander';
import { isSwitchboardError, SwitchboardError } from '../core/errors.ts';
import type { MessageQuery } from '../core/ports/message-store.ts';
import type { Store } from '../core/ports/store.ts';
import { messageDetailJson, messageSummaryJson, parseMessageQueryParams, type MessageQueryParam } from '../api/message-query-params.ts';
import { DEFAULT_STORE_URL, openStore } from '../store/open-store.ts';
import { out } from './cli-io.ts';

interface SearchOptions {
  store: string;
  channel?: string;
  status?: string;
  type?: string;
  controlId?: string;
  patientId?: string;
  correlationId?: string;
  from?: string;
  to?: string;
  text?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
}

/** The CLI flag for each query parameter, to name it in usage errors. */
const FLAG: Record<MessageQueryParam, string> = {
  channel: '--channel',
  status: '--status',
  type: '--type',
  controlId: '--control-id',
  patientId: '--patient-id',
  correlationId: '--correlation-id',
  from: '--from',
  to: '--to',
  text: '--text',
  limit: '--limit',
  cursor: '--cursor',
};

const storeDefault = (): string => process.env['SWITCHBOARD_STORE'] ?? DEFAULT_STORE_URL;

async function withStore<T>(url: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

function toQuery(opts: SearchOptions): MessageQuery {
  const input: Partial<Record<MessageQueryParam, string>> = {};
  for (const param of Object.keys(FLAG) as MessageQueryParam[]) {
    const value = opts[param];
    if (value !== undefined) input[param] = value;
  }
  const parsed = parseMessageQueryParams(input);
  if (parsed.kind === 'invalid') throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: `${FLAG[parsed.param]} ${parsed.reason}` });
  return parsed.query;
}

const dash = (value: string | undefined): string => (value === undefined || value === '' ? '-' : value);

/**
 * `switchboard messages search|show`: an operator's view of the store. `search` prints
 * identifiers and status only; content and patient ids are printed only by `show`, which names one
 * message explicitly (ARCHITECTURE.md invariant 7).
 */
export function registerMessagesCommands(program: Command): void {
  const messages = program.command('messages').description('find and inspect stored messages');

  messages
    .command('search')
    .description('list stored messages, newest first: received time, id, channel, type, control id, status, reason (no content)')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--channel <id>', 'only this channel')
    .option('--status <status>', 'only these statuses (comma-separated): received, filtered, queued, delivered, errored, resolved')
    .option('--type <type>', 'only this message type, e.g. ADT^A01')
    .option('--control-id <id>', 'only this MSH-10')
    .option('--patient-id <id>', 'only messages about this patient identifier (PID-3)')
    .option('--correlation-id <id>', 'only this correlation id')
    .option('--from <iso>', 'received at or after (2024-03-05 or 2024-03-05T10:30:00Z)')
    .option('--to <iso>', 'received before')
    .option('--text <words>', 'full-text search over content: every word must match')
    .option('--limit <n>', 'page size, 1-500 (default 50)')
    .option('--cursor <cursor>', 'the next-cursor printed by the previous page')
    .option('--json', 'print { items, nextCursor } as JSON')
    .action(async (opts: SearchOptions) => {
      const query = toQuery(opts);
      const page = await withStore(opts.store, async (store) => {
        try {
          return await store.messages.search(query);
        } catch (e) {
          if (isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_BAD_CURSOR') throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--cursor is not a cursor returned by a previous search' }, { cause: e });
          throw e;
        }
      });
      if (opts.json === true) {
        out(JSON.stringify({ items: page.items.map(messageSummaryJson), nextCursor: page.nextCursor ?? null }, null, 2));
        return;
      }
      for (const m of page.items) {
        out([m.receivedAt.toISOString(), m.id, m.channelId, dash(m.messageType), dash(m.controlId), m.status, dash(m.statusReason)].join('  '));
      }
      if (page.nextCursor !== undefined) out(`next cursor: ${page.nextCursor}`);
    });

  messages
    .command('show <id>')
    .description('print one message: its metadata, history and content')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--json', 'print the message and its events as JSON')
    .action(async (id: string, opts: { store: string; json?: boolean }) => {
      const found = await withStore(opts.store, async (store) => {
        const message = await store.messages.get(id);
        return message === undefined ? undefined : { message, events: await store.messages.events(id) };
      });
      if (found === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id });
      const { message: m, events } = found;
      if (opts.json === true) {
        out(JSON.stringify(messageDetailJson(m, events), null, 2));
        return;
      }
      const lines = [
        `id:             ${m.id}`,
        `received:       ${m.receivedAt.toISOString()}`,
        `channel:        ${m.channelId}`,
        `type:           ${dash(m.messageType)}`,
        `control id:     ${dash(m.controlId)}`,
        `status:         ${m.status}${m.statusReason !== undefined ? ` (${m.statusReason})` : ''}`,
        `correlation id: ${m.correlationId}`,
        `source:         ${m.source}`,
        `facility:       ${dash(m.sendingFacility)}`,
        `patient ids:    ${m.patientIds.length > 0 ? m.patientIds.join(', ') : '-'}`,
        `config rev:     ${m.configRevision}`,
        'events:',
        ...(events.length > 0
          ? events.map((e) => `  ${e.at.toISOString()}  ${e.type}${e.deliveryId !== undefined ? `  delivery ${e.deliveryId}` : ''}${e.detail !== undefined ? `  ${JSON.stringify(e.detail)}` : ''}`)
          : ['  (none)']),
        `content (${m.contentType}):`,
        // HL7 v2 segments end in CR (v2.5.1 ch.2 2.5.4); a terminal wants LF.
        m.content === undefined ? '  (pruned by retention)' : m.content.replace(/\r\n?/g, '\n').replace(/\n$/, ''),
      ];
      out(lines.join('\n'));
    });
}
