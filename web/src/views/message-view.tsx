// One message: raw HL7 with highlighted fields (hover: path and name), the parsed tree, each
// delivery with its request (payload) and every attempt's response, and the event timeline.
// Reading it is PHI access: GET /api/v1/messages/:id is audited by the engine.
import { useState } from 'preact/hooks';
import { Hl7Tree, Hl7View } from '../hl7-view.tsx';
import type { Me } from '../permissions.ts';
import { ErrorBox, fmtTime, Link, StatusBadge, useApi } from '../ui.tsx';

interface Detail {
  readonly id: string;
  readonly receivedAt: string;
  readonly channelId: string;
  readonly messageType: string | null;
  readonly controlId: string | null;
  readonly status: string;
  readonly statusReason: string | null;
  readonly correlationId: string;
  readonly contentType: string;
  readonly source: string;
  readonly configRevision: number;
  readonly content: string | null;
  readonly patientIds: readonly string[];
}

interface Attempt {
  readonly attempt: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly outcome: string;
  readonly errorCode: string | null;
  readonly response: string | null;
}

interface Delivery {
  readonly id: string;
  readonly destination: string;
  readonly status: string;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastErrorCode: string | null;
  readonly payload: string;
  readonly attemptLog: readonly Attempt[];
}

interface Event {
  readonly at: string;
  readonly type: string;
  readonly deliveryId: string | null;
  readonly detail: Record<string, unknown> | null;
}

/** JSON payloads (the FHIR output) pretty-printed; anything else as is. */
function pretty(text: string): string {
  const t = text.trimStart();
  // HL7 v2 segments end in CR (v2.5.1 ch. 2 2.5.1): one per line on screen.
  if (!t.startsWith('{') && !t.startsWith('[')) return text.replace(/\r\n?/g, '\n');
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

type Tab = 'raw' | 'tree';

export function MessageView({ id }: { readonly id: string; readonly me: Me }) {
  const base = `/api/v1/messages/${encodeURIComponent(id)}`;
  const msg = useApi<Detail>(base, 'read message content');
  const deliveries = useApi<{ items: readonly Delivery[] }>(base + '/deliveries', 'read deliveries');
  const events = useApi<{ items: readonly Event[] }>(base + '/events', 'read message events');
  const [tab, setTab] = useState<Tab>('raw');
  const m = msg.data;

  return (
    <section aria-labelledby="message-title">
      <p>
        <Link to="/messages">← Messages</Link>
      </p>
      <h1 id="message-title">
        Message <span class="mono">{m?.controlId ?? id}</span>
      </h1>
      <ErrorBox error={msg.error} />
      {m !== undefined && (
        <dl class="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={m.status} /> {m.statusReason}
          </dd>
          <dt>Type</dt>
          <dd class="mono">{m.messageType ?? '—'}</dd>
          <dt>Channel</dt>
          <dd>
            <Link to={`/channels/${encodeURIComponent(m.channelId)}`}>{m.channelId}</Link> (rev {m.configRevision})
          </dd>
          <dt>Received</dt>
          <dd>{fmtTime(m.receivedAt)}</dd>
          <dt>Source</dt>
          <dd class="mono">{m.source}</dd>
          <dt>Correlation id</dt>
          <dd class="mono">{m.correlationId}</dd>
          <dt>Message id</dt>
          <dd class="mono">{m.id}</dd>
        </dl>
      )}
      {m !== undefined && (
        <div class="panel">
          <div role="tablist" aria-label="Content views" class="tabs">
            <button type="button" role="tab" aria-selected={tab === 'raw'} onClick={() => setTab('raw')}>
              Raw
            </button>
            <button type="button" role="tab" aria-selected={tab === 'tree'} onClick={() => setTab('tree')}>
              Parsed tree
            </button>
          </div>
          <div role="tabpanel">
            {m.content === null ? (
              <p class="muted">The content was pruned by retention; the metadata remains.</p>
            ) : m.contentType === 'hl7v2' ? (
              tab === 'raw' ? (
                <Hl7View text={m.content} />
              ) : (
                <Hl7Tree text={m.content} />
              )
            ) : (
              <pre class="code">{pretty(m.content)}</pre>
            )}
          </div>
        </div>
      )}
      <h2>Deliveries</h2>
      <ErrorBox error={deliveries.error} />
      {deliveries.data?.items.length === 0 && <p class="muted">No deliveries (filtered, or not routed).</p>}
      {deliveries.data?.items.map((d) => (
        <details class="delivery" key={d.id} open={d.status !== 'delivered'}>
          <summary>
            <strong>{d.destination}</strong> <StatusBadge status={d.status} /> attempts {d.attempts}/{d.maxAttempts} {d.lastErrorCode !== null && <span class="mono bad">{d.lastErrorCode}</span>}
          </summary>
          <h3>Request</h3>
          <pre class="code">{pretty(d.payload)}</pre>
          {d.attemptLog.map((a) => (
            <div key={a.attempt} class="attempt">
              <h3>
                Attempt {a.attempt}: {a.outcome} {a.errorCode !== null && <span class="mono">{a.errorCode}</span>} <span class="muted small">{fmtTime(a.startedAt)}</span>
              </h3>
              <pre class="code">{a.response === null ? '(no response)' : pretty(a.response)}</pre>
            </div>
          ))}
        </details>
      ))}
      <h2>Timeline</h2>
      <ErrorBox error={events.error} />
      <ol class="timeline">
        {events.data?.items.map((e, i) => (
          <li key={i}>
            <time dateTime={e.at}>{fmtTime(e.at)}</time> <strong>{e.type}</strong>
            {e.deliveryId !== null && <span class="muted small"> delivery {e.deliveryId}</span>}
            {e.detail !== null && <span class="mono small"> {JSON.stringify(e.detail)}</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}
