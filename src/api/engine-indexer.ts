// The resource indexer the engine runs with: FHIRPath for every search parameter (FhirSearchIndexer),
// except for the records the server writes at a high rate in shapes of its own, indexed directly
// (src/fhir/direct-indexing.ts): the AuditEvent of every audited request, the Provenance of every
// EHR write. `switchboard start` and the benchmarks use this one, so the benchmarks measure what runs.
import type { ResourceIndexer } from '../core/ports/resource-store.ts';
import { DirectIndexer } from '../fhir/direct-indexing.ts';
import { FhirSearchIndexer } from '../fhir/search-parameters.ts';
import { provenanceEntries } from '../writeback/provenance-indexer.ts';
import { auditEventEntries } from './audit-event-indexer.ts';

export function engineResourceIndexer(): ResourceIndexer {
  return new DirectIndexer(new FhirSearchIndexer(), { AuditEvent: auditEventEntries, Provenance: provenanceEntries });
}
