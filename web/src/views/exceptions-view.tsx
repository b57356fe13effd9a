// Exception queue: failed, ambiguous and parked deliveries grouped by destination and reason;
// retry, edit-and-retry, resolve, one by one or in bulk. Every action is audited by the engine.
import { useState } from 'preact/hooks';
import { get, post, qs } from '../api.ts';
import { can, type Me } from '../permissions.ts';
import { useLocation } from '../router.ts';
import { ErrorBox, fmtTime, Link, MaskedPatient, Notice, StatusBadge, useAction, useApi } from '../ui.tsx';

interface Exception {
  readonly id: string;
  readonly messageId: string;
  readonly destination: string;
  readonly status: string;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastErrorCode: string | null;
  readonly lastFailureClass: string | null;
  readonly updatedAt: string | null;
}

interface BulkResult {
  readonly ok: number;
  readonly failed: number;
}

interface Group {
  readonly key: string;
  readonly destination: string;
  readonly reason: string;
  readonly items: Exception[];
}

function groupsOf(items: readonly Exception[]): Group[] {
  const map = new Map<string, Group>();
  for (const x of items) {
    const reason = `${x.lastErrorCode ?? 'no error code'} (${x.lastFailureClass ?? x.status})`;
    const key = `${x.destination}\u0000${reason}`;
    let g = map.get(key);
    if (g === undefined) map.set(key, (g = { key, destination: x.destination, reason, items: [] }));
    g.items.push(x);
  }
  return [...map.values()];
}

export function ExceptionsView({ me }: { readonly me: Me }) {
  const { query } = useLocation();
  const destination = query.get('destination') ?? undefined;
  const list = useApi<{ items: readonly Exception[] }>(`/api/v1/exceptions${qs({ destination, limit: 500 })}`, 'read the exception queue', 10_000);
  const action = useAction();
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [editing, setEditing] = useState<{ id: string; payload: string; cr?: boolean } | undefined>(undefined);
  const [reason, setReason] = useState('');
  const mayRetry = can(me, 'messages:retry');
  const mayResolve = can(me, 'exceptions:resolve');
  const mayEdit = mayRetry && can(me, 'messages:read');

  const toggle = (id: string, on: boolean): void => {
    const next = new Set(selected);
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
  };
  const after = (msg: string): string => {
    setSelected(new Set());
    list.reload();
    return msg;
  };
  const retryOne = (id: string, payload?: string): void =>
    action.run('retry deliveries', async () => {
      await post(`/api/v1/deliveries/${encodeURIComponent(id)}/retry`, payload === undefined ? {} : { payload });
      setEditing(undefined);
      return after(`Delivery ${id} queued again.`);
    });
  const resolveOne = (id: string): void =>
    action.run('resolve deliveries', async () => {
      await post(`/api/v1/deliveries/${encodeURIComponent(id)}/resolve`, reason.trim() === '' ? {} : { reason: reason.trim() });
      return after(`Delivery ${id} resolved.`);
    });
  const bulk = (kind: 'retry' | 'resolve', ids: readonly string[]): void =>
    action.run(kind === 'retry' ? 'retry deliveries' : 'resolve exceptions', async () => {
      const r = await post<BulkResult>(`/api/v1/exceptions/${kind}`, kind === 'resolve' && reason.trim() !== '' ? { ids, reason: reason.trim() } : { ids });
      return after(`${kind === 'retry' ? 'Retried' : 'Resolved'} ${r.ok}${r.failed > 0 ? `, ${r.failed} refused` : ''}.`);
    });
  const startEdit = (x: Exception): void =>
    action.run('read delivery payloads', async () => {
      const d = await get<{ items: { id: string; payload: string }[] }>(`/api/v1/messages/${encodeURIComponent(x.messageId)}/deliveries`);
      const payload = d.items.find((i) => i.id === x.id)?.payload ?? '';
      // A textarea turns CR into LF (HTML "API value"); HL7 v2 ends segments with CR (v2.5.1
      // ch. 2 2.5.1): edit with line feeds, send with CRs again.
      const cr = /\r(?!\n)/.test(payload);
      setEditing({ id: x.id, payload: cr ? payload.replace(/\r/g, '\n') : payload, cr });
      return undefined;
    });

  const groups = groupsOf(list.data?.items ?? []);
  const chosen = [...selected];

  return (
    <section aria-labelledby="exceptions-title">
      <h1 id="exceptions-title">Exception queue</h1>
      {destination !== undefined && (
        <p>
          Destination <span class="mono">{destination}</span> · <Link to="/exceptions">all destinations</Link>
        </p>
      )}
      <ErrorBox error={list.error} />
      <ErrorBox error={action.error} />
      <Notice text={action.message} />
      {(mayRetry || mayResolve) && (
        <div class="toolbar" role="group" aria-label="Bulk actions">
          <span>{chosen.length} selected</span>
          {mayRetry && (
            <button type="button" disabled={action.busy || chosen.length === 0} onClick={() => bulk('retry', chosen)}>
              Retry selected
            </button>
          )}
          {mayResolve && (
            <>
              <label for="resolve-reason">Reason</label>
              <input id="resolve-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} placeholder="why it is closed" />
              <button type="button" disabled={action.busy || chosen.length === 0} onClick={() => bulk('resolve', chosen)}>
                Resolve selected
              </button>
            </>
          )}
        </div>
      )}
      {list.data !== undefined && groups.length === 0 && <p>The exception queue is empty.</p>}
      {groups.map((g) => (
        <article class="group" key={g.key} aria-label={`${g.destination}: ${g.reason}`}>
          <header class="card-head">
            <h2>
              {g.destination} <span class="mono small">{g.reason}</span> <span class="count">{g.items.length}</span>
            </h2>
            {mayRetry && (
              <button type="button" disabled={action.busy} onClick={() => bulk('retry', g.items.map((x) => x.id))}>
                Retry all {g.items.length}
              </button>
            )}
          </header>
          <div class="table-wrap">
            <table class="grid">
              <thead>
                <tr>
                  {(mayRetry || mayResolve) && (
                    <th scope="col">
                      <span class="sr-only">Select</span>
                    </th>
                  )}
                  <th scope="col">Delivery</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Updated</th>
                  <th scope="col">Patient</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {g.items.map((x) => (
                  <tr key={x.id} data-delivery-id={x.id}>
                    {(mayRetry || mayResolve) && (
                      <td>
                        <input type="checkbox" aria-label={`Select delivery ${x.id}`} checked={selected.has(x.id)} onChange={(e) => toggle(x.id, e.currentTarget.checked)} />
                      </td>
                    )}
                    <td class="mono small">
                      <Link to={`/messages/${encodeURIComponent(x.messageId)}`}>{x.id}</Link>
                    </td>
                    <td>
                      <StatusBadge status={x.status} />
                    </td>
                    <td>
                      {x.attempts}/{x.maxAttempts}
                    </td>
                    <td>{fmtTime(x.updatedAt)}</td>
                    <td>{can(me, 'messages:read') ? <MaskedPatient messageId={x.messageId} /> : <span class="muted">•••••</span>}</td>
                    <td class="row-actions">
                      {mayRetry && (
                        <button type="button" disabled={action.busy} onClick={() => retryOne(x.id)} aria-label={`Retry delivery ${x.id}`}>
                          Retry
                        </button>
                      )}
                      {mayEdit && (
                        <button type="button" disabled={action.busy} onClick={() => startEdit(x)} aria-label={`Edit and retry delivery ${x.id}`}>
                          Edit &amp; retry
                        </button>
                      )}
                      {can(me, 'messages:resolve') && (
                        <button type="button" disabled={action.busy} onClick={() => resolveOne(x.id)} aria-label={`Resolve delivery ${x.id}`}>
                          Resolve
                        </button>
                      )}
                      {!mayRetry && !mayResolve && <span class="muted small">Your role cannot retry or resolve.</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </article>
      ))}
      {editing !== undefined && (
        <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="edit-title">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              retryOne(editing.id, editing.cr === true ? editing.payload.replace(/\r?\n/g, '\r') : editing.payload);
            }}
          >
            <h2 id="edit-title">Edit and retry {editing.id}</h2>
            <label for="edit-payload">Payload sent to the destination</label>
            <textarea id="edit-payload" rows={12} class="mono" value={editing.payload} onInput={(e) => setEditing({ ...editing, payload: e.currentTarget.value })} />
            <div class="toolbar">
              <button type="submit" class="primary" disabled={action.busy || editing.payload === ''}>
                Retry with this payload
              </button>
              <button type="button" onClick={() => setEditing(undefined)}>
                Cancel
              </button>
            </div>
          </form>
        </div>
      )}
    </section>
  );
}
