// Channels: the list; one channel's YAML, its revisions with diffs, its tests, deploy (errors name
// the YAML path), and replay with the dry-run diff shown before anything is sent.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, post, qs } from '../api.ts';
import { can, type Me } from '../permissions.ts';
import { ErrorBox, fmtTime, Link, Notice, StatusBadge, UnifiedDiff, useAction, useApi } from '../ui.tsx';

interface Revision {
  readonly channelId: string;
  readonly revision: number;
  readonly hash: string;
  readonly author: string;
  readonly comment: string | null;
  readonly createdAt: string | null;
}

interface ChannelDoc {
  readonly id: string;
  readonly name: string;
  readonly revision: number;
  readonly state: string;
  readonly yaml: string;
}

interface TestRun {
  readonly passed: number;
  readonly failed: number;
  readonly results: readonly { file: string; name: string; passed: boolean; failures: readonly string[] }[];
  readonly errors?: readonly { file: string; code: string; detail: string }[];
}

interface ReplayPlan {
  readonly dryRun: boolean;
  readonly truncated: boolean;
  readonly counts: Record<string, number>;
  readonly messages: readonly {
    messageId: string;
    controlId?: string;
    messageType?: string;
    kind: string;
    reason?: string;
    destinations?: readonly { destination: string; kind: string; diff?: string }[];
  }[];
}

function ChannelList() {
  const list = useApi<{ items: readonly Revision[] }>('/api/v1/channels', 'read channels');
  return (
    <section aria-labelledby="channels-title">
      <h1 id="channels-title">Channels</h1>
      <ErrorBox error={list.error} />
      <table class="grid">
        <caption class="sr-only">Channels and their latest revision</caption>
        <thead>
          <tr>
            <th scope="col">Channel</th>
            <th scope="col">Revision</th>
            <th scope="col">Author</th>
            <th scope="col">Applied</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((r) => (
            <tr key={r.channelId}>
              <th scope="row">
                <Link to={`/channels/${encodeURIComponent(r.channelId)}`}>{r.channelId}</Link>
              </th>
              <td>{r.revision}</td>
              <td>{r.author}</td>
              <td>{fmtTime(r.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Replay({ id, me }: { readonly id: string; readonly me: Me }) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [status, setStatus] = useState('');
  const [revision, setRevision] = useState<'pinned' | 'current'>('current');
  const [plan, setPlan] = useState<ReplayPlan | undefined>(undefined);
  const action = useAction();
  const body = (dryRun: boolean): Record<string, unknown> => ({
    channel: id,
    revision,
    dryRun,
    ...(from === '' ? {} : { from: new Date(from).toISOString() }),
    ...(to === '' ? {} : { to: new Date(to).toISOString() }),
    ...(status === '' ? {} : { status }),
  });
  if (!can(me, 'replay:run')) return null;
  return (
    <section aria-labelledby="replay-title" class="panel">
      <h2 id="replay-title">Replay</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          action.run('replay messages', async () => {
            setPlan(await post<ReplayPlan>('/api/v1/replay', body(true)));
            return undefined;
          });
        }}
      >
        <div class="field">
          <label for="r-from">From</label>
          <input id="r-from" type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="r-to">To</label>
          <input id="r-to" type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="r-status">Status</label>
          <input id="r-status" value={status} placeholder="errored,filtered" onInput={(e) => setStatus(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="r-rev">Under revision</label>
          <select id="r-rev" value={revision} onChange={(e) => setRevision(e.currentTarget.value as 'pinned' | 'current')}>
            <option value="current">current</option>
            <option value="pinned">pinned (as received)</option>
          </select>
        </div>
        <div class="field actions">
          <button type="submit" disabled={action.busy}>
            Dry run
          </button>
        </div>
      </form>
      <ErrorBox error={action.error} />
      <Notice text={action.message} />
      {plan !== undefined && (
        <div>
          <p class="replay-counts">
            {Object.entries(plan.counts)
              .map(([k, v]) => `${k} ${v}`)
              .join(' · ')}
            {plan.truncated && ' (more matched than the limit: the newest were taken)'}
          </p>
          {plan.messages.map((m) => (
            <details key={m.messageId}>
              <summary>
                <span class="mono">{m.controlId ?? m.messageId}</span> {m.messageType} <StatusBadge status={m.kind} /> {m.reason}
              </summary>
              {m.destinations?.map((d) => (
                <div key={d.destination}>
                  <strong>{d.destination}</strong> {d.kind}
                  {d.diff !== undefined && <UnifiedDiff text={d.diff} />}
                </div>
              ))}
            </details>
          ))}
          {plan.dryRun && plan.messages.length > 0 && (
            <button
              type="button"
              class="danger"
              disabled={action.busy}
              onClick={() =>
                action.run('replay messages', async () => {
                  const r = await post<ReplayPlan>('/api/v1/replay', body(false));
                  setPlan(r);
                  return `Replayed: ${r.counts['deliveries'] ?? 0} deliveries enqueued.`;
                })
              }
            >
              Replay {plan.messages.length} messages
            </button>
          )}
        </div>
      )}
    </section>
  );
}

function ChannelDetail({ id, me }: { readonly id: string; readonly me: Me }) {
  const cid = encodeURIComponent(id);
  const doc = useApi<ChannelDoc>(`/api/v1/channels/${cid}`, 'read channels');
  const revs = useApi<{ items: readonly Revision[] }>(`/api/v1/channels/${cid}/revisions`, 'read channels');
  const [pair, setPair] = useState<{ from: number; to: number } | undefined>(undefined);
  const diff = useApi<{ diff: string }>(pair === undefined ? undefined : `/api/v1/channels/${cid}/diff${qs({ from: pair.from, to: pair.to })}`, 'read channels');
  const [yaml, setYaml] = useState<string | undefined>(undefined);
  const [comment, setComment] = useState('');
  const [tests, setTests] = useState<TestRun | undefined>(undefined);
  const action = useAction();
  const deploy = can(me, 'channels:deploy');

  useEffect(() => setYaml(undefined), [doc.data?.revision]);

  return (
    <section aria-labelledby="channel-title">
      <p>
        <Link to="/channels">← Channels</Link>
      </p>
      <h1 id="channel-title">
        {doc.data?.name ?? id} {doc.data !== undefined && <StatusBadge status={doc.data.state} />} {doc.data !== undefined && <span class="muted">rev {doc.data.revision}</span>}
      </h1>
      <ErrorBox error={doc.error} />
      <ErrorBox error={action.error} />
      <Notice text={action.message} />
      <div class="two">
        <div>
          <h2>YAML</h2>
          {doc.data === undefined ? null : deploy ? (
            <>
              <label for="yaml">Channel document</label>
              <textarea id="yaml" class="mono" rows={22} spellcheck={false} value={yaml ?? doc.data?.yaml ?? ''} onInput={(e) => setYaml(e.currentTarget.value)} />
              <label for="deploy-comment">Comment</label>
              <input id="deploy-comment" value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
              <div class="toolbar">
                <button
                  type="button"
                  class="primary"
                  disabled={action.busy || yaml === undefined}
                  onClick={() =>
                    action.run('deploy channels', async () => {
                      try {
                        const r = await post<{ revision: number; changed: boolean }>(`/api/v1/channels/${cid}/deploy`, { yaml, ...(comment === '' ? {} : { comment }) });
                        doc.reload();
                        revs.reload();
                        return r.changed ? `Deployed as revision ${r.revision}.` : 'Unchanged: nothing deployed.';
                      } catch (e) {
                        // Validation errors name the YAML path (one schema, STYLE.md "Configuration").
                        if (e instanceof ApiError && e.status === 400) throw new Error(`Not deployed: ${e.detail}`);
                        throw e;
                      }
                    })
                  }
                >
                  Deploy
                </button>
                <button
                  type="button"
                  disabled={action.busy}
                  onClick={() =>
                    action.run('run channel tests', async () => {
                      const r = await post<TestRun>(`/api/v1/channels/${cid}/test`);
                      setTests(r);
                      return `Tests: ${r.passed} passed, ${r.failed} failed.`;
                    })
                  }
                >
                  Run tests
                </button>
              </div>
            </>
          ) : (
            <pre class="code">{doc.data?.yaml}</pre>
          )}
          {tests !== undefined && (
            <ul class="tests">
              {tests.results.map((t, i) => (
                <li key={i} class={t.passed ? 'ok' : 'bad'}>
                  {t.passed ? '✓' : '✗'} {t.file}: {t.name}
                  {t.failures.map((f, j) => (
                    <div key={j} class="mono small">
                      {f}
                    </div>
                  ))}
                </li>
              ))}
              {tests.errors?.map((e, i) => (
                <li key={`e${i}`} class="bad">
                  {e.file}: {e.code} {e.detail}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div>
          <h2>Revisions</h2>
          <ErrorBox error={revs.error} />
          <ul class="revisions" aria-label="Revisions, newest first">
            {[...(revs.data?.items ?? [])].reverse().map((r) => (
              <li key={r.revision}>
                <strong>{r.revision}</strong> {fmtTime(r.createdAt)} · {r.author} {r.comment !== null && <em>{r.comment}</em>}{' '}
                {r.revision > 1 && (
                  <button type="button" class="linklike" onClick={() => setPair({ from: r.revision - 1, to: r.revision })}>
                    diff with {r.revision - 1}
                  </button>
                )}
              </li>
            ))}
          </ul>
          <ErrorBox error={diff.error} />
          {pair !== undefined && diff.data !== undefined && <UnifiedDiff text={diff.data.diff} />}
        </div>
      </div>
      <Replay id={id} me={me} />
    </section>
  );
}

export function ChannelsView({ me, id }: { readonly me: Me; readonly id: string | undefined }) {
  return id === undefined ? <ChannelList /> : <ChannelDetail id={id} me={me} />;
}
