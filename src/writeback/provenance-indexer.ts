// The search index entries of the Provenance every EHR write leaves (ai-content.ts buildProvenance,
// stored by write-records.ts), computed directly (src/fhir/direct-indexing.ts) instead of by the
// FHIRPath expressions of the R4 Provenance search parameters: it is stored in the commit path of
// each write-back, on the event loop. The entries are FhirSearchIndexer's for the same resource
// (provenance-indexer.test.ts compares both over the shapes buildProvenance makes); a Provenance
// with anything else (an entity, a signature, an agent.who reference to a resource, another meta
// member) goes to the FHIRPath indexer.
import type { IndexEntry } from '../core/ports/resource-store.ts';
import { codeableConceptEntries, codeEntry, codingEntry, dateEntry, DirectIndexUnknown, list, only, optionalString, type Json } from '../fhir/direct-indexing.ts';
import { parseReference, uniqueEntries } from '../fhir/search-parameters.ts';

/**
 * Members handled. `contained` (the AI agent's Device), `reason` and `activity` are read by no R4
 * Provenance search parameter (provenance.html#search), so their content does not matter here.
 */
const TOP: ReadonlySet<string> = new Set(['resourceType', 'id', 'meta', 'contained', 'target', 'recorded', 'reason', 'activity', 'agent']);
const META: ReadonlySet<string> = new Set(['versionId', 'lastUpdated', 'tag']);
const TARGET: ReadonlySet<string> = new Set(['reference']);
const AGENT: ReadonlySet<string> = new Set(['type', 'who']);
const WHO: ReadonlySet<string> = new Set(['reference', 'identifier', 'display']);

/** The entries of one Provenance, or DirectIndexUnknown thrown when it has something not handled. */
export function provenanceEntries(r: Json): IndexEntry[] {
  only(r, TOP);
  const out: IndexEntry[] = [];
  codeEntry('_id', r['id'], out);
  if (r['meta'] !== undefined) {
    const meta = only(r['meta'], META);
    dateEntry('_lastUpdated', meta['lastUpdated'], out);
    for (const tag of list(meta['tag'])) codingEntry('_tag', tag, out);
  }
  const patients: IndexEntry[] = [];
  for (const t of list(r['target'])) {
    const reference = optionalString(only(t, TARGET)['reference']);
    if (reference === undefined) throw new DirectIndexUnknown();
    const { type, id, url } = parseReference(reference);
    if (type === undefined) throw new DirectIndexUnknown();
    out.push({ kind: 'reference', param: 'target', targetType: type, targetId: id, url });
    // `patient`: target.where(resolve() is Patient), the reference's type standing for resolve().
    if (type === 'Patient') patients.push({ kind: 'reference', param: 'patient', targetType: type, targetId: id, url });
  }
  dateEntry('recorded', r['recorded'], out);
  for (const a of list(r['agent'])) {
    const agent = only(a, AGENT);
    if (agent['type'] !== undefined) codeableConceptEntries('agent-type', agent['type'], out);
    if (agent['who'] !== undefined) {
      const who = only(agent['who'], WHO);
      // `agent` (agent.who) indexes a reference to a resource; the server's agents are identified
      // by identifier, or by a local reference to a contained Device, which is not indexed.
      const reference = optionalString(who['reference']);
      if (reference !== undefined && !reference.startsWith('#')) throw new DirectIndexUnknown();
    }
  }
  out.push(...patients);
  return uniqueEntries(out);
}
