import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { SwitchboardError } from '../core/errors.ts';
import type { Store } from '../core/ports/store.ts';
import { deliverySummaryJson, parseReplayBody } from '../api/ops-routes.ts';
import { loadChannelDir } from '../engine/channel-loader.ts';
import {
  applyChannels,
  planReplay,
  resolveDeliveries,
  retryDeliveries,
  retryDelivery,
  revisionDiff,
  runReplay,
  type BulkItemResult,
  type BulkResult,
  type ReplayMessagePlan,
  type ReplayPlan,
} from '../engine/operations.ts';
import { revisionPipelines } from '../engine/revision-pipelines.ts';
import { DEFAULT_STORE_URL, openStore } from '../store/open-store.ts';
import { err, out } from './cli-io.ts';

/**
 * Operator commands over a store: the exception queue (`exceptions`, `messages retry|resolve`),
 * `replay` (with `--dry-run`), and channel revisions (`channels apply|export|history|diff`). Each
 * action is audited as `cli:<os user>`. Exit codes: 0 ok, 1 some items failed, 2 usage or config.
 * Payloads are printed only by `replay` diffs, which are about the messages asked for.
 */

const storeDefault = (): string => process.env['SWITCHBOARD_STORE'] ?? DEFAULT_STORE_URL;

function actor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

async function withStore<T>(url: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

const usage = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_CLI_USAGE', { reason });

function positiveInt(raw: string | undefined, flag: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= max)) throw usage(`${flag} must be an integer 1-${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function printBulk(result: BulkResult, verb: string): void {
  for (const item of result.items) printItem(item, verb);
  if (result.failed > 0) process.exitCode = 1;
}

function printItem(item: BulkItemResult, verb: string): void {
  if (item.kind === 'ok') out(`${item.id}  ${verb}  ${item.destination}  (was ${item.previousStatus})`);
  else err(`${item.id}  not ${verb}: ${item.code}: ${item.detail}`);
}

/** An edited HL7 payload from an editor has LF line ends; HL7 v2 segments end in CR (v2.5.1 ch.2 2.5.4). */
export function payloadFromFile(text: string): string {
  if (!text.startsWith('MSH')) return text;
  return text.replace(/\r?\n/g, '\r').replace(/\r$/, '');
}

function messageLine(m: ReplayMessagePlan): string {
  const head = `${m.receivedAt.toISOString()}  ${m.messageId}  ${m.channelId}  ${m.messageType ?? '-'}  ${m.controlId ?? '-'}  rev ${m.revision ?? '-'}`;
  switch (m.kind) {
    case 'routed':
      return `${head}  ${m.destinations.length === 0 ? 'routed nowhere' : m.destinations.map((d) => `${d.destination}: ${d.kind}`).join(', ')}`;
    case 'filtered':
      return `${head}  filtered: ${m.reason}`;
    case 'error':
      return `${head}  error: ${m.errorCode}`;
    case 'pruned':
      return `${head}  content pruned: cannot replay`;
  }
}

export function formatPlan(plan: ReplayPlan, dryRun: boolean): string {
  const c = plan.counts;
  const lines = [
    `${dryRun ? 'dry run' : 'replay'} under the ${plan.revision} revision: ${c.messages} message(s)${plan.truncated ? ' (more matched: raise --limit or narrow the query)' : ''}`,
    `  routed ${c.routed}, filtered ${c.filtered}, errors ${c.errors}, pruned ${c.pruned}`,
    `  destinations: ${c.changed} changed, ${c.unchanged} unchanged, ${c.new} new, ${c.notRouted} not routed now`,
    `  ${dryRun ? 'would enqueue' : 'enqueued'} ${c.deliveries} deliveries`,
  ];
  for (const m of plan.messages) {
    lines.push('', messageLine(m));
    if (m.kind !== 'routed') continue;
    for (const d of m.destinations) if (d.kind === 'changed') lines.push(d.diff);
  }
  return lines.join('\n');
}

interface ReplayOptions {
  store: string;
  channel?: string;
  from?: string;
  to?: string;
  status?: string;
  type?: string;
  patient?: string;
  controlId?: string;
  revision: string;
  destination?: string[];
  dryRun?: boolean;
  config?: string;
  limit?: string;
  json?: boolean;
}

const FLAG: Record<string, string> = {
  channel: '--channel',
  from: '--from',
  to: '--to',
  status: '--status',
  type: '--type',
  patientId: '--patient',
  controlId: '--control-id',
  revision: '--revision',
  destinations: '--destination',
  limit: '--limit',
};

function ensureCommand(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function registerOpsCommands(program: Command): void {
  program
    .command('exceptions')
    .description('list the exception queue: failed, ambiguous and parked deliveries, oldest first (no payloads)')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--destination <id>', 'only this destination (<channel>/<name>)')
    .option('--limit <n>', 'at most this many, 1-1000', '100')
    .option('--json', 'print { items } as JSON')
    .action(async (opts: { store: string; destination?: string; limit: string; json?: boolean }) => {
      const limit = positiveInt(opts.limit, '--limit', 100, 1000);
      const items = await withStore(opts.store, (s) => s.queue.exceptions({ limit, ...(opts.destination !== undefined ? { destination: opts.destination } : {}) }));
      if (opts.json === true) {
        out(JSON.stringify({ items: items.map(deliverySummaryJson) }, null, 2));
        return;
      }
      for (const d of items) {
        out([d.updatedAt.toISOString(), d.id, d.destination, d.status, `attempts ${d.attempts}/${d.maxAttempts}`, d.lastErrorCode ?? '-', `message ${d.messageId}`].join('  '));
      }
    });

  const messages = ensureCommand(program, 'messages', 'find and inspect stored messages');
  messages
    .command('retry <delivery-id...>')
    .description('send exception-queue deliveries again (attempts reset); --payload-file edits the payload first')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--payload-file <file>', 'replace the payload with this file (one delivery only); LF line ends become CR for HL7')
    .action(async (ids: string[], opts: { store: string; payloadFile?: string }) => {
      if (opts.payloadFile !== undefined) {
        const [id, ...more] = ids;
        if (id === undefined || more.length > 0) throw usage('--payload-file edits one delivery: give exactly one delivery id');
        let text: string;
        try {
          text = await readFile(opts.payloadFile, 'utf8');
        } catch (e) {
          throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: opts.payloadFile, reason: (e as NodeJS.ErrnoException).code ?? 'error' });
        }
        if (text.trim() === '') throw usage('--payload-file is empty');
        const payload = payloadFromFile(text);
        const r = await withStore(opts.store, (s) => retryDelivery(s, id, { actor: actor(), payload }));
        out(`${r.deliveryId}  retried with an edited payload  ${r.destination}  (was ${r.previousStatus})`);
        return;
      }
      const result = await withStore(opts.store, (s) => retryDeliveries(s, { ids, limit: ids.length }, { actor: actor() }));
      printBulk(result, 'retried');
    });

  messages
    .command('resolve <delivery-id...>')
    .description('close exception-queue deliveries without delivering them (unblocks their ordering key)')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--reason <text>', 'why, for the audit log')
    .action(async (ids: string[], opts: { store: string; reason?: string }) => {
      const result = await withStore(opts.store, (s) => resolveDeliveries(s, { ids, limit: ids.length }, { actor: actor(), reason: opts.reason }));
      printBulk(result, 'resolved');
    });

  program
    .command('replay')
    .description('run stored messages through their pinned or the current channel revision again and enqueue the outputs; --dry-run prints the plan with diffs and sends nothing')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--channel <id>', 'only this channel')
    .option('--from <iso>', 'received at or after (2024-03-05 or 2024-03-05T10:30:00Z)')
    .option('--to <iso>', 'received before')
    .option('--status <status>', 'only these statuses (comma-separated)')
    .option('--type <type>', 'only this message type, e.g. ADT^A01')
    .option('--patient <id>', 'only messages about this patient identifier (PID-3)')
    .option('--control-id <id>', 'only this MSH-10')
    .option('--revision <which>', 'pinned (the revision each message ran under) or current (the latest)', 'pinned')
    .option('--destination <name>', 'only this destination name (repeatable); default every destination the revision routes to', (v: string, acc: string[] = []) => [...acc, v])
    .option('--dry-run', 'print what would be sent, with diffs against what was sent; send nothing')
    .option('--config <dir>', 'the channel directory, where module references resolve', process.env['SWITCHBOARD_CONFIG'])
    .option('--limit <n>', 'at most this many messages (default 1000)')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: ReplayOptions) => {
      const body: Record<string, unknown> = { revision: opts.revision, dryRun: opts.dryRun === true };
      const fields: Array<[string, string | undefined]> = [
        ['channel', opts.channel],
        ['from', opts.from],
        ['to', opts.to],
        ['status', opts.status],
        ['type', opts.type],
        ['patientId', opts.patient],
        ['controlId', opts.controlId],
      ];
      for (const [k, v] of fields) if (v !== undefined) body[k] = v;
      if (opts.destination !== undefined) body['destinations'] = opts.destination;
      if (opts.limit !== undefined) body['limit'] = opts.limit;
      let parsed: ReturnType<typeof parseReplayBody>;
      try {
        parsed = parseReplayBody(body, actor());
      } catch (e) {
        // The API's body checker names the field; say the flag instead.
        const p = (e as { parameter?: string; reason?: string }).parameter;
        if (p !== undefined) throw usage(`${FLAG[p] ?? p} ${(e as { reason: string }).reason}`);
        throw e;
      }
      const { request, dryRun } = parsed;
      const baseDir = resolve(opts.config ?? '.');
      const plan = await withStore(opts.store, (s) => {
        const ports = { messages: s.messages, queue: s.queue, channels: s.channels, audit: s.audit, pipelineFor: revisionPipelines(s.channels, { baseDir }) };
        return dryRun ? planReplay(ports, request) : runReplay(ports, request);
      });
      out(opts.json === true ? JSON.stringify({ dryRun, ...plan }, null, 2) : formatPlan(plan, dryRun));
      if (!dryRun) err('note: a running engine picks the new deliveries up at its next poll');
      if (plan.counts.errors > 0 || plan.counts.pruned > 0) process.exitCode = 1;
    });

  const channels = ensureCommand(program, 'channels', 'channel revisions: apply, export, history, diff');

  channels
    .command('apply <dir>')
    .description('validate the channel files of a directory and store each changed one as a new revision')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--comment <text>', 'kept with each new revision')
    .action(async (dir: string, opts: { store: string; comment?: string }) => {
      const loaded = await loadChannelDir(dir);
      if (loaded.length === 0) throw usage(`${dir} holds no channel files (*.yaml, *.yml)`);
      const results = await withStore(opts.store, (s) => applyChannels(s, loaded, actor(), opts.comment));
      for (const r of results) {
        out(r.kind === 'created' ? `${r.channelId}  revision ${r.revision}${r.previous !== undefined ? ` (was ${r.previous})` : ' (new channel)'}` : `${r.channelId}  unchanged at revision ${r.revision}`);
      }
    });

  channels
    .command('export [id]')
    .description("write each channel's latest revision as <id>.yaml (the stored deterministic export: byte-identical every time)")
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--out <dir>', 'write files here instead of printing')
    .option('--revision <n>', 'this revision instead of the latest (with an id)')
    .action(async (id: string | undefined, opts: { store: string; out?: string; revision?: string }) => {
      if (opts.revision !== undefined && id === undefined) throw usage('--revision needs a channel id');
      const revisions = await withStore(opts.store, async (s) => {
        if (id === undefined) return s.channels.list();
        const r = opts.revision !== undefined ? await s.channels.get(id, positiveInt(opts.revision, '--revision', 1, 1e6 - 1)) : await s.channels.latest(id);
        if (r === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: opts.revision !== undefined ? 'channel revision' : 'channel', id: opts.revision !== undefined ? `${id}@${opts.revision}` : id });
        return [r];
      });
      const sorted = [...revisions].sort((a, b) => (a.channelId < b.channelId ? -1 : a.channelId > b.channelId ? 1 : 0));
      if (opts.out === undefined) {
        // Several documents on stdout: one YAML stream (YAML 1.2 9.2 document markers).
        out(sorted.map((r) => r.document).join('---\n'));
        return;
      }
      await mkdir(opts.out, { recursive: true });
      for (const r of sorted) {
        const file = join(opts.out, `${r.channelId}.yaml`);
        await writeFile(file, r.document);
        out(`${file}  revision ${r.revision}`);
      }
    });

  channels
    .command('history <id>')
    .description("a channel's revisions, newest first: number, time, author, hash, comment")
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .option('--json', 'print { items } as JSON')
    .action(async (id: string, opts: { store: string; json?: boolean }) => {
      const history = await withStore(opts.store, (s) => s.channels.history(id));
      if (history.length === 0) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'channel', id });
      if (opts.json === true) {
        out(JSON.stringify({ items: history.map((r) => ({ channelId: r.channelId, revision: r.revision, createdAt: r.createdAt.toISOString(), author: r.author, hash: r.hash, comment: r.comment ?? null })) }, null, 2));
        return;
      }
      for (const r of history) out([String(r.revision).padStart(4), r.createdAt.toISOString(), r.author, r.hash.slice(0, 12), r.comment ?? ''].join('  ').trimEnd());
    });

  channels
    .command('diff <id> <from> <to>')
    .description('the unified diff of two revisions of a channel')
    .option('--store <url>', 'sqlite:PATH or postgres://...', storeDefault())
    .action(async (id: string, fromRaw: string, toRaw: string, opts: { store: string }) => {
      const from = positiveInt(fromRaw, 'FROM', 1, 1e6 - 1);
      const to = positiveInt(toRaw, 'TO', 1, 1e6 - 1);
      const d = await withStore(opts.store, (s) => revisionDiff(s, id, from, to));
      out(d.diff === '' ? `${id}: revisions ${from} and ${to} are the same` : d.diff);
    });
}

