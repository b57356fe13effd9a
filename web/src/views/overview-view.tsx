// Overview: per channel its state, a live per-minute chart, queue depth and oldest age per
// destination, the error rate; start/stop and pause/resume for the roles that may.
import { post } from '../api.ts';
import { MinuteChart, type MinutePoint } from '../chart.tsx';
import { can, type Me } from '../permissions.ts';
import { ErrorBox, fmtAge, fmtTime, Link, Notice, StatusBadge, useAction, useApi } from '../ui.tsx';

interface DestinationSummary {
  readonly name: string;
  readonly paused: boolean;
  readonly queueDepth: number;
  readonly oldestAgeMs: number | null;
  readonly inFlight: number;
  readonly failed: number;
}

interface ChannelSummary {
  readonly id: string;
  readonly name: string;
  readonly state: 'running' | 'stopped';
  readonly revision: number;
  readonly perMinute: readonly MinutePoint[];
  readonly errorRate: number;
  readonly destinations: readonly DestinationSummary[];
}

interface Summary {
  readonly generatedAt: string;
  readonly channels: readonly ChannelSummary[];
}

const REFRESH_MS = 5000;

export function OverviewView({ me }: { readonly me: Me }) {
  const summary = useApi<Summary>('/api/v1/metrics/summary?minutes=30', 'read the engine metrics', REFRESH_MS);
  const action = useAction();
  const operate = can(me, 'channels:deploy');

  const act = (doing: string, path: string, done: string): void =>
    action.run(doing, async () => {
      await post(path);
      summary.reload();
      return done;
    });

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <p class="muted">
        Live: refreshed every {REFRESH_MS / 1000} s{summary.data !== undefined && <> · as of {fmtTime(summary.data.generatedAt)}</>}
      </p>
      <ErrorBox error={summary.error} />
      <ErrorBox error={action.error} />
      <Notice text={action.message} />
      {summary.data?.channels.length === 0 && <p>No channels are configured.</p>}
      <div class="cards">
        {summary.data?.channels.map((ch) => {
          const cid = encodeURIComponent(ch.id);
          return (
            <article class="card" key={ch.id} aria-labelledby={`ch-${ch.id}`} data-channel={ch.id}>
              <header class="card-head">
                <h2 id={`ch-${ch.id}`}>
                  <Link to={`/channels/${cid}`}>{ch.name || ch.id}</Link>
                </h2>
                <StatusBadge status={ch.state} />
                <span class="muted">rev {ch.revision}</span>
                <span class={ch.errorRate > 0.05 ? 'bad' : 'muted'} title="Failed / (delivered + failed) over the window">
                  errors {(ch.errorRate * 100).toFixed(1)}%
                </span>
                {operate &&
                  (ch.state === 'running' ? (
                    <button type="button" disabled={action.busy} onClick={() => act('stop channels', `/api/v1/channels/${cid}/stop`, `${ch.id} stopped`)}>
                      Stop
                    </button>
                  ) : (
                    <button type="button" disabled={action.busy} onClick={() => act('start channels', `/api/v1/channels/${cid}/start`, `${ch.id} started`)}>
                      Start
                    </button>
                  ))}
              </header>
              <MinuteChart points={ch.perMinute} label={ch.id} />
              <div class="legend" aria-hidden="true">
                <span class="k received">received</span> <span class="k acked">acked</span> <span class="k delivered">delivered</span> <span class="k failed">failed</span>
              </div>
              <table class="grid">
                <caption class="sr-only">Destinations of {ch.id}</caption>
                <thead>
                  <tr>
                    <th scope="col">Destination</th>
                    <th scope="col">Queue</th>
                    <th scope="col">Oldest</th>
                    <th scope="col">In flight</th>
                    <th scope="col">Failed</th>
                    {operate && <th scope="col">Action</th>}
                  </tr>
                </thead>
                <tbody>
                  {ch.destinations.map((d) => {
                    const base = `/api/v1/channels/${cid}/destinations/${encodeURIComponent(d.name)}`;
                    return (
                      <tr key={d.name}>
                        <th scope="row">
                          {d.name} {d.paused && <StatusBadge status="paused" />}
                        </th>
                        <td>{d.queueDepth}</td>
                        <td>{fmtAge(d.oldestAgeMs)}</td>
                        <td>{d.inFlight}</td>
                        <td>{d.failed > 0 ? <Link to={`/exceptions?destination=${encodeURIComponent(`${ch.id}/${d.name}`)}`}>{d.failed}</Link> : 0}</td>
                        {operate && (
                          <td>
                            {d.paused ? (
                              <button type="button" disabled={action.busy} onClick={() => act('resume destinations', `${base}/resume`, `${ch.id}/${d.name} resumed`)}>
                                Resume
                              </button>
                            ) : (
                              <button type="button" disabled={action.busy} onClick={() => act('pause destinations', `${base}/pause`, `${ch.id}/${d.name} paused`)}>
                                Pause
                              </button>
                            )}
                          </td>
                        )}
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </article>
          );
        })}
      </div>
    </section>
  );
}
