// Write-back review queue (issue 6 API, /api/v1/writeback): pending proposals with the proposed
// content, the EHR's live copy and a field-level diff; approve (optionally edited), reject with a
// reason, sign. AI-drafted items are labelled with model and version. The patient is masked in
// the list and shown on the item page, which is an explicit read.
import { useState } from 'preact/hooks';
import { post, qs } from '../api.ts';
import { can, type Me } from '../permissions.ts';
import { navigate } from '../router.ts';
import { ErrorBox, FieldDiff, fmtTime, Link, Notice, StatusBadge, useAction, useApi, type FieldChange } from '../ui.tsx';

export interface ProposalActor {
  readonly kind: string;
  readonly id: string;
  readonly display?: string;
  readonly model?: string;
  readonly modelVersion?: string;
}

export interface ProposalJson {
  readonly id: string;
  readonly tenant: string;
  readonly ehr: string;
  readonly patient: string;
  readonly change: Record<string, unknown> & { kind: string };
  readonly approvedChange?: Record<string, unknown>;
  readonly actor: ProposalActor;
  readonly purposeOfUse: string;
  readonly correlationId: string;
  readonly state: string;
  readonly revision: number;
  readonly attempts: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface Review {
  readonly proposal: ProposalJson;
  readonly current: unknown;
  readonly diff: readonly FieldChange[];
  readonly ai: { model: string; version: string } | null;
}

const STATES = ['pending_review', 'approved', 'committing', 'committed', 'verified', 'failed', 'unknown', 'conflict', 'drifted', 'rejected', 'rejected_by_policy'];

/** `Observation (vital signs)`, `DocumentReference`, `HL7 v2 MDM^T02`: what the change is about. */
export function changeLabel(change: ProposalJson['change']): string {
  if (change.kind === 'hl7v2') {
    const msh = String(change['message'] ?? '').split(/\r|\n/)[0]?.split('|') ?? [];
    return `HL7 v2 ${msh[8] ?? ''}`.trim();
  }
  const resource = change['resource'] as { resourceType?: string } | undefined;
  return `${change.kind} ${resource?.resourceType ?? String(change['resourceType'] ?? '')}`;
}

export function AiBadge({ actor, ai }: { readonly actor: ProposalActor; readonly ai?: { model: string; version: string } | null }) {
  const model = ai?.model ?? actor.model;
  if (actor.kind !== 'agent' && model === undefined) return null;
  const version = ai?.version ?? actor.modelVersion ?? '?';
  return (
    <span class="badge ai" title="Drafted by an AI agent: review before it reaches the chart">
      AI draft · {model ?? actor.id} {version}
    </span>
  );
}

function ReviewList() {
  const [state, setState] = useState('pending_review');
  const list = useApi<{ items: readonly ProposalJson[]; nextCursor: string | null }>(`/api/v1/writeback/proposals${qs({ state, limit: 100 })}`, 'read write-back proposals', 10_000);
  return (
    <section aria-labelledby="review-title">
      <h1 id="review-title">Write-back review</h1>
      <div class="toolbar">
        <label for="review-state">State</label>
        <select id="review-state" value={state} onChange={(e) => setState(e.currentTarget.value)}>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <ErrorBox error={list.error} />
      {list.data?.items.length === 0 && <p>Nothing in {state}.</p>}
      <div class="table-wrap">
        <table class="grid">
          <caption class="sr-only">Proposals in {state}</caption>
          <thead>
            <tr>
              <th scope="col">Proposed</th>
              <th scope="col">Change</th>
              <th scope="col">EHR</th>
              <th scope="col">Patient</th>
              <th scope="col">By</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((p) => (
              <tr key={p.id} data-proposal-id={p.id}>
                <td>
                  <Link to={`/review/${encodeURIComponent(p.id)}`}>{fmtTime(p.createdAt)}</Link>
                </td>
                <td>{changeLabel(p.change)}</td>
                <td>{p.ehr}</td>
                <td>
                  <span class="muted" title="Open the item to see the patient">
                    •••••
                  </span>
                </td>
                <td>
                  {p.actor.display ?? p.actor.id} <AiBadge actor={p.actor} />
                </td>
                <td>
                  <StatusBadge status={p.state} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function contentOf(change: Record<string, unknown>): unknown {
  return change['resource'] ?? change['patch'] ?? change['message'] ?? change;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

function ReviewItem({ id, me }: { readonly id: string; readonly me: Me }) {
  const base = `/api/v1/writeback/proposals/${encodeURIComponent(id)}`;
  const review = useApi<Review>(`${base}/review`, 'read write-back proposals');
  const action = useAction();
  const [edited, setEdited] = useState<string | undefined>(undefined);
  const [comment, setComment] = useState('');
  const [reason, setReason] = useState('');
  const mayReview = can(me, 'writeback:review');
  const r = review.data;

  const approve = (): void =>
    action.run('approve write-back proposals', async () => {
      let change: unknown;
      if (edited !== undefined && r !== undefined) {
        const parsed = JSON.parse(edited) as unknown;
        change = r.proposal.change.kind === 'hl7v2' ? { kind: 'hl7v2', message: edited } : { ...r.proposal.change, [r.proposal.change['patch'] !== undefined ? 'patch' : 'resource']: parsed };
      }
      await post(`${base}/approve`, { ...(change === undefined ? {} : { change }), ...(comment.trim() === '' ? {} : { comment: comment.trim() }) });
      review.reload();
      return 'Approved.';
    });
  const reject = (): void =>
    action.run('reject write-back proposals', async () => {
      await post(`${base}/reject`, { reason: reason.trim() });
      review.reload();
      return 'Rejected.';
    });
  const sign = (): void =>
    action.run('sign write-back proposals', async () => {
      await post(`${base}/sign`, {});
      review.reload();
      return 'Signed.';
    });

  return (
    <section aria-labelledby="item-title">
      <p>
        <Link to="/review">← Review queue</Link>
      </p>
      <h1 id="item-title">Proposal {r !== undefined ? changeLabel(r.proposal.change) : id}</h1>
      <ErrorBox error={review.error} />
      <ErrorBox error={action.error} />
      <Notice text={action.message} />
      {r !== undefined && (
        <>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              <StatusBadge status={r.proposal.state} />
            </dd>
            <dt>Proposed by</dt>
            <dd>
              {r.proposal.actor.display ?? r.proposal.actor.id} ({r.proposal.actor.kind}) <AiBadge actor={r.proposal.actor} ai={r.ai} />
            </dd>
            <dt>EHR</dt>
            <dd>{r.proposal.ehr}</dd>
            <dt>Patient</dt>
            <dd class="mono phi">{r.proposal.patient}</dd>
            <dt>Purpose</dt>
            <dd>{r.proposal.purposeOfUse}</dd>
            <dt>Correlation id</dt>
            <dd class="mono">{r.proposal.correlationId}</dd>
          </dl>
          <h2>Field differences</h2>
          <FieldDiff diff={r.diff} />
          <div class="two">
            <div>
              <h2>Proposed</h2>
              {mayReview && r.proposal.state === 'pending_review' ? (
                <>
                  <label for="edit-proposal">Proposed content (edit before approving)</label>
                  <textarea id="edit-proposal" class="mono" rows={16} value={edited ?? text(contentOf(r.proposal.change))} onInput={(e) => setEdited(e.currentTarget.value)} />
                </>
              ) : (
                <pre class="code">{text(contentOf(r.proposal.approvedChange ?? r.proposal.change))}</pre>
              )}
            </div>
            <div>
              <h2>EHR now</h2>
              {r.current === null ? <p class="muted">Not in the EHR (a new resource).</p> : <pre class="code">{text(r.current)}</pre>}
            </div>
          </div>
          {mayReview ? (
            <div class="decide">
              {r.proposal.state === 'pending_review' && (
                <>
                  <fieldset>
                    <legend>Approve</legend>
                    <label for="approve-comment">Comment (optional)</label>
                    <input id="approve-comment" value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
                    <button type="button" class="primary" disabled={action.busy} onClick={approve}>
                      {edited === undefined ? 'Approve' : 'Approve with edits'}
                    </button>
                  </fieldset>
                  <fieldset>
                    <legend>Reject</legend>
                    <label for="reject-reason">Reason for rejecting</label>
                    <input id="reject-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
                    <button type="button" class="danger" disabled={action.busy || reason.trim() === ''} onClick={reject}>
                      Reject
                    </button>
                  </fieldset>
                </>
              )}
              {['pending_review', 'approved'].includes(r.proposal.state) && (
                <fieldset>
                  <legend>Sign</legend>
                  <p class="small muted">Files the note as final under your name (a clinician's attestation).</p>
                  <button type="button" disabled={action.busy} onClick={sign}>
                    Sign
                  </button>
                </fieldset>
              )}
            </div>
          ) : (
            <p class="muted">Your role cannot approve, reject or sign write-backs (a reviewer does).</p>
          )}
          <p>
            <button type="button" class="linklike" onClick={() => navigate('/review')}>
              Back to the queue
            </button>
          </p>
        </>
      )}
    </section>
  );
}

export function ReviewView({ me, id }: { readonly me: Me; readonly id: string | undefined }) {
  return id === undefined ? <ReviewList /> : <ReviewItem id={id} me={me} />;
}
