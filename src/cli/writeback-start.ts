import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/ports/store.ts';
import type { EhrAdapter } from '../writeback/ehr/ehr-adapter.ts';
import { createEhrAdapter } from '../writeback/ehr/ehr-adapters.ts';
import { loadWritebackConfig } from '../writeback/writeback-config.ts';
import { createWritebackService, type WritebackService } from '../writeback/writeback-service.ts';

export interface StartedWriteback {
  readonly service: WritebackService;
  /** One line for the start banner: EHR names and what recovery found. */
  readonly summary: string;
}

/**
 * `switchboard start --writeback FILE`: the EHR adapters from the file, the write-back service over
 * the engine's store (proposals, ledger; Provenance and AuditEvent into the canonical FHIR store),
 * crash recovery, then the commit worker and the drift job (docs/writeback.md).
 */
export async function startWriteback(file: string, store: Store, logger: Logger): Promise<StartedWriteback> {
  const config = await loadWritebackConfig(file);
  const adapters = new Map<string, EhrAdapter>();
  try {
    for (const ehr of config.ehrs) adapters.set(ehr.name, await createEhrAdapter(ehr));
  } catch (e) {
    await Promise.allSettled([...adapters.values()].map((a) => a.close()));
    throw e;
  }
  const service = createWritebackService({
    proposals: store.proposals,
    resources: store.resources,
    adapters,
    policy: config.policy,
    tenant: config.tenant,
    logger,
    commit: config.commit,
    verify: config.verify.enabled,
    driftIntervalMs: config.drift.intervalMs,
  });
  const recovered = await service.start();
  const names = [...adapters.keys()];
  const recovery = recovered.retried.length + recovered.unknown.length + recovered.committed.length === 0 ? '' : `; recovered: ${recovered.retried.length} retried, ${recovered.unknown.length} unknown, ${recovered.committed.length} committed`;
  logger.info({ ehrs: names, retried: recovered.retried.length, unknown: recovered.unknown.length }, 'write-back started');
  return { service, summary: `${names.length} EHR(s): ${names.join(', ') || '-'}${recovery}` };
}
