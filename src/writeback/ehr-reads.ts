/**
 * Live reads of the EHR copy a change targets (review, approval, conflicts), shared by intake and
 * review. An update or a patch is pinned to the version read (If-Match, FHIR R4
 * http.html#concurrency) when its author gave none, and the copy read is kept as the base of a
 * three-way diff should the EHR answer 409/412 later.
 */
import type { Proposal, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import type { EhrAdapter } from './ehr/ehr-adapter.ts';
import { errorCodeOf, type WritebackContext } from './writeback-context.ts';

export interface LiveCopy {
  readonly resource?: FhirResource;
  readonly versionId?: string;
  readonly error?: string;
}

/** The EHR's current copy of what an update or patch targets. */
export async function readCurrent(adapter: EhrAdapter | undefined, change: ProposedChange): Promise<LiveCopy> {
  if (change.kind !== 'update' && change.kind !== 'patch') return {};
  if (adapter === undefined) return { error: 'SWB_ERR_WRITEBACK_UNKNOWN_EHR' };
  try {
    const r = await adapter.read(change.resourceType, change.id);
    switch (r.kind) {
      case 'found': {
        const versionId = r.versionId ?? (typeof r.resource.meta?.versionId === 'string' ? r.resource.meta.versionId : undefined);
        return { resource: r.resource, ...(versionId === undefined ? {} : { versionId }) };
      }
      case 'gone':
      case 'not_found':
        return { error: r.kind };
      case 'error':
        return { error: r.code };
    }
  } catch (e) {
    return { error: errorCodeOf(e) };
  }
}

/**
 * The version the approver saw, made the update's If-Match (FHIR R4 http.html#concurrency) when the
 * author gave none; the copy itself is kept in the event as the three-way diff's base.
 */
export async function pinBase(ctx: WritebackContext, p: Proposal, change: ProposedChange): Promise<{ change: ProposedChange; base?: FhirResource }> {
  if (change.kind !== 'update' && change.kind !== 'patch') return { change };
  const live = await readCurrent(ctx.adapters.get(p.ehr), change);
  if (live.resource === undefined) return { change };
  const pinned = change.baseVersion === undefined && live.versionId !== undefined ? { ...change, baseVersion: live.versionId } : change;
  return { change: pinned, base: live.resource };
}

