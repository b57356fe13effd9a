// Reconciliation (issue 6): write-backs that need a person. Conflicts (the EHR changed under the
// proposal: a three-way diff base / proposed / EHR now), unknown outcomes (the request may or may
// not have applied), and drift (the EHR's copy changed after we verified it).
import { post } from '../api.ts';
import { can, type Me } from '../permissions.ts';
import { ErrorBox, FieldDiff, Link, Notice, show, useAction, useApi, type FieldChange } from '../ui.tsx';
import { AiBadge, changeLabel, type ProposalJson } from './review-view.tsx';

interface ThreeWayChange {
  readonly path: string;
  readonly base?: unknown;
  readonly proposal?: unknown;
  readonly current?: unknown;
  readonly conflict: boolean;
}

interface Reconciliation {
  readonly conflicts: readonly { proposal: ProposalJson; diff: readonly ThreeWayChange[] }[];
  readonly unknown: readonly ProposalJson[];
  readonly drift: readonly { proposal: ProposalJson; diff: readonly FieldChange[] }[];
}

function ThreeWay({ diff }: { readonly diff: readonly ThreeWayChange[] }) {
  return (
    <table class="grid diff">
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Base</th>
          <th scope="col">Proposed</th>
          <th scope="col">EHR now</th>
        </tr>
      </thead>
      <tbody>
        {diff.map((d) => (
          <tr key={d.path} class={d.conflict ? 'd-conflict' : ''}>
            <td class="mono">
              {d.path} {d.conflict && <span class="badge s-conflict">conflict</span>}
            </td>
            <td class="mono">{show(d.base)}</td>
            <td class="mono ins">{show(d.proposal)}</td>
            <td class="mono del">{show(d.current)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Head({ p }: { readonly p: ProposalJson }) {
  return (
    <h3>
      <Link to={`/review/${encodeURIComponent(p.id)}`}>{changeLabel(p.change)}</Link> · {p.ehr} <AiBadge actor={p.actor} /> <span class="mono small">{p.correlationId}</span>
    </h3>
  );
}

export function ReconciliationView({ me }: { readonly me: Me }) {
  const data = useApi<Reconciliation>('/api/v1/writeback/reconciliation', 'read write-back reconciliation', 15_000);
  const action = useAction();
  const operate = can(me, 'writeback:operate');
  const base = (p: ProposalJson): string => `/api/v1/writeback/proposals/${encodeURIComponent(p.id)}`;
  const act = (doing: string, path: string, body: unknown, done: string): void =>
    action.run(doing, async () => {
      await post(path, body);
      data.reload();
      return done;
    });
  const ask = (what: string): string | null => window.prompt(`Reason (${what}):`);
  const d = data.data;

  return (
    <section aria-labelledby="recon-title">
      <h1 id="recon-title">Reconciliation</h1>
      <ErrorBox error={data.error} />
      <ErrorBox error={action.error} />
      <Notice text={action.message} />
      <h2>Conflicts {d !== undefined && <span class="count">{d.conflicts.length}</span>}</h2>
      {d?.conflicts.length === 0 && <p class="muted">None.</p>}
      {d?.conflicts.map((c) => (
        <article class="card" key={c.proposal.id}>
          <Head p={c.proposal} />
          <ThreeWay diff={c.diff} />
          {operate && (
            <button
              type="button"
              onClick={() => {
                const reason = ask('close the conflict');
                if (reason !== null && reason.trim() !== '') act('close write-back proposals', `${base(c.proposal)}/close`, { reason }, 'Closed.');
              }}
            >
              Close
            </button>
          )}
        </article>
      ))}
      <h2>Unknown outcomes {d !== undefined && <span class="count">{d.unknown.length}</span>}</h2>
      {d?.unknown.length === 0 && <p class="muted">None.</p>}
      {d?.unknown.map((p) => (
        <article class="card" key={p.id}>
          <Head p={p} />
          <p>The EHR may or may not have applied this write; check the chart, then say which.</p>
          {operate && (
            <div class="toolbar">
              {(['applied', 'not_applied'] as const).map((outcome) => (
                <button
                  key={outcome}
                  type="button"
                  onClick={() => {
                    const reason = ask(outcome === 'applied' ? 'the EHR has it' : 'the EHR does not have it');
                    if (reason !== null && reason.trim() !== '') act('resolve write-back outcomes', `${base(p)}/resolve`, { outcome, reason }, `Resolved as ${outcome}.`);
                  }}
                >
                  {outcome === 'applied' ? 'It was applied' : 'It was not applied (retry)'}
                </button>
              ))}
            </div>
          )}
        </article>
      ))}
      <h2>Drift {d !== undefined && <span class="count">{d.drift.length}</span>}</h2>
      {d?.drift.length === 0 && <p class="muted">None.</p>}
      {d?.drift.map((x) => (
        <article class="card" key={x.proposal.id}>
          <Head p={x.proposal} />
          <FieldDiff diff={x.diff} beforeLabel="As written" afterLabel="EHR now" />
        </article>
      ))}
    </section>
  );
}
