// Message browser: search by time range, channel, status, type, control id, patient identifier,
// correlation id and free text (GET /api/v1/messages), pages by nextCursor. Lists carry no PHI;
// the patient column is masked and revealed per row through the audited message read.
import { useEffect, useState } from 'preact/hooks';
import { describeError, get, qs } from '../api.ts';
import { can, type Me } from '../permissions.ts';
import { navigate, useLocation } from '../router.ts';
import { ErrorBox, fmtTime, Link, MaskedPatient, StatusBadge } from '../ui.tsx';

export interface MessageSummary {
  readonly id: string;
  readonly receivedAt: string;
  readonly channelId: string;
  readonly messageType: string | null;
  readonly controlId: string | null;
  readonly status: string;
  readonly statusReason: string | null;
  readonly correlationId: string;
  readonly contentBytes: number | null;
  readonly configRevision: number;
}

interface Page {
  readonly items: readonly MessageSummary[];
  readonly nextCursor: string | null;
}

const FILTERS = ['from', 'to', 'channel', 'status', 'type', 'controlId', 'patientId', 'correlationId', 'text'] as const;
type Filter = (typeof FILTERS)[number];
const STATUSES = ['received', 'filtered', 'queued', 'delivered', 'errored', 'resolved'];
const FOLLOW_MS = 3000;

/** <input type="datetime-local"> is local time without an offset; the API wants one (RFC 3339). */
const toInstant = (local: string): string => (local === '' ? '' : new Date(local).toISOString());
const toLocal = (iso: string): string => {
  if (iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

export function MessagesView({ me }: { readonly me: Me }) {
  const { query } = useLocation();
  const applied: Record<Filter, string> = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ''])) as Record<Filter, string>;
  const [form, setForm] = useState<Record<Filter, string>>(applied);
  const [items, setItems] = useState<readonly MessageSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [follow, setFollow] = useState(true);
  const key = qs(applied);

  const load = (more: boolean): void => {
    setLoading(true);
    get<Page>(`/api/v1/messages${qs({ ...applied, limit: 50, cursor: more ? cursor : undefined })}`).then(
      (page) => {
        setItems((prev) => (more ? [...prev, ...page.items] : page.items));
        setCursor(page.nextCursor);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        setError(describeError(e, 'search messages'));
        setLoading(false);
      },
    );
  };

  useEffect(() => {
    setForm(applied);
    setItems([]);
    load(false);
    // Re-run when the applied filters (the URL) change.
  }, [key]);

  // Follow new arrivals on the first page while only it is shown.
  useEffect(() => {
    if (!follow || items.length > 50) return undefined;
    const t = setInterval(() => load(false), FOLLOW_MS);
    return () => clearInterval(t);
  }, [follow, key, items.length]);

  const submit = (e: Event): void => {
    e.preventDefault();
    const next = { ...form, from: toInstant(form.from), to: toInstant(form.to) };
    navigate(`/messages${qs(next)}`);
  };
  const field = (name: Filter, label: string, extra: Record<string, string> = {}) => (
    <div class="field">
      <label for={`f-${name}`}>{label}</label>
      <input id={`f-${name}`} name={name} value={form[name]} onInput={(e) => setForm({ ...form, [name]: e.currentTarget.value })} {...extra} />
    </div>
  );
  const reveal = can(me, 'messages:read');

  return (
    <section aria-labelledby="messages-title">
      <h1 id="messages-title">Messages</h1>
      <form class="filters" onSubmit={submit} aria-label="Search messages">
        <div class="field">
          <label for="f-from">From</label>
          <input id="f-from" type="datetime-local" value={toLocal(form.from)} onInput={(e) => setForm({ ...form, from: e.currentTarget.value })} />
        </div>
        <div class="field">
          <label for="f-to">To</label>
          <input id="f-to" type="datetime-local" value={toLocal(form.to)} onInput={(e) => setForm({ ...form, to: e.currentTarget.value })} />
        </div>
        {field('channel', 'Channel')}
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" value={form.status} onChange={(e) => setForm({ ...form, status: e.currentTarget.value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        {field('type', 'Type', { placeholder: 'ADT^A01' })}
        {field('controlId', 'Control id')}
        {field('patientId', 'Patient identifier', { autoComplete: 'off' })}
        {field('correlationId', 'Correlation id')}
        {field('text', 'Text', { type: 'search' })}
        <div class="field actions">
          <button type="submit" class="primary">
            Search
          </button>
          <label class="inline">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow new messages
          </label>
        </div>
      </form>
      <ErrorBox error={error} />
      <div class="table-wrap">
        <table class="grid" aria-busy={loading}>
          <caption class="sr-only">Messages, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Received</th>
              <th scope="col">Channel</th>
              <th scope="col">Type</th>
              <th scope="col">Control id</th>
              <th scope="col">Status</th>
              <th scope="col">Patient</th>
              <th scope="col">Correlation id</th>
            </tr>
          </thead>
          <tbody>
            {items.map((m) => (
              <tr key={m.id} data-message-id={m.id}>
                <td>
                  <Link to={`/messages/${encodeURIComponent(m.id)}`}>{fmtTime(m.receivedAt)}</Link>
                </td>
                <td>{m.channelId}</td>
                <td class="mono">{m.messageType ?? '—'}</td>
                <td class="mono">{m.controlId ?? '—'}</td>
                <td>
                  <StatusBadge status={m.status} /> {m.statusReason !== null && <span class="muted small">{m.statusReason}</span>}
                </td>
                <td>{reveal ? <MaskedPatient messageId={m.id} /> : <span class="muted">•••••</span>}</td>
                <td class="mono small">{m.correlationId}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {items.length === 0 && !loading && <p class="muted">No messages match.</p>}
      {cursor !== null && (
        <button type="button" onClick={() => load(true)} disabled={loading}>
          Load more
        </button>
      )}
    </section>
  );
}
