// The search index entries of the AuditEvents this server writes (audit-events.ts), computed directly
// (src/fhir/direct-indexing.ts) instead of by evaluating the 24 FHIRPath expressions of the R4
// AuditEvent search parameters: one AuditEvent is written per FHIR interaction, and the FHIRPath
// evaluation was most of the CPU of an audited read's indexing. The entries are the ones
// FhirSearchIndexer produces for the same resource (audit-event-indexer.test.ts compares both over
// every shape audit-events.ts builds); an AuditEvent with anything this code does not know (an
// agent.who reference, meta.tag, entity.name, ...) goes to the FHIRPath indexer, so a resource
// written some other way is indexed exactly as before.
import type { IndexEntry } from '../core/ports/resource-store.ts';
import { codeEntry as code, codingEntry as coding, dateEntry as date, list, only, optionalString, stringEntry as text, type Json } from '../fhir/direct-indexing.ts';
import { parseReference, uniqueEntries } from '../fhir/search-parameters.ts';

/** Members handled, per element; any other member sends the resource to the FHIRPath indexer. */
const TOP: ReadonlySet<string> = new Set(['resourceType', 'id', 'meta', 'type', 'subtype', 'action', 'recorded', 'outcome', 'outcomeDesc', 'agent', 'source', 'entity']);
const META: ReadonlySet<string> = new Set(['versionId', 'lastUpdated']);
const AGENT: ReadonlySet<string> = new Set(['type', 'who', 'name', 'requestor', 'network', 'purposeOfUse', 'altId']);
const WHO: ReadonlySet<string> = new Set(['identifier', 'display']);
const NETWORK: ReadonlySet<string> = new Set(['address', 'type']);
const SOURCE: ReadonlySet<string> = new Set(['observer', 'type']);
const OBSERVER: ReadonlySet<string> = new Set(['display']);
const ENTITY: ReadonlySet<string> = new Set(['what', 'type', 'role', 'query', 'detail']);
const WHAT: ReadonlySet<string> = new Set(['reference', 'identifier']);

/**
 * The entries of one AuditEvent, or DirectIndexUnknown thrown when it has something not handled here
 * (composed with the FHIRPath indexer by engine-indexer.ts).
 */
export function auditEventEntries(r: Json): IndexEntry[] {
  only(r, TOP);
  const out: IndexEntry[] = [];
  code('_id', r['id'], out);
  if (r['meta'] !== undefined) date('_lastUpdated', only(r['meta'], META)['lastUpdated'], out);
  code('action', r['action'], out);
  const agents = list(r['agent']).map((a) => only(a, AGENT));
  for (const a of agents) {
    if (a['network'] !== undefined) text('address', only(a['network'], NETWORK)['address'], out);
  }
  for (const a of agents) {
    // agent.who: no literal reference here (identifier and display only), so no `agent` entry.
    if (a['who'] !== undefined) only(a['who'], WHO);
    text('agent-name', a['name'], out);
  }
  for (const a of agents) code('altid', a['altId'], out);
  date('date', r['recorded'], out);
  const entities = list(r['entity']).map((e) => only(e, ENTITY));
  const patients: IndexEntry[] = [];
  for (const e of entities) {
    if (e['what'] === undefined) continue;
    const reference = optionalString(only(e['what'], WHAT)['reference']);
    if (reference === undefined) continue;
    const { type, id, url } = parseReference(reference);
    if (type === undefined && url === undefined) continue;
    out.push({ kind: 'reference', param: 'entity', targetType: type, targetId: id, url });
    // `patient`: entity.what.where(resolve() is Patient), the reference's type standing for resolve().
    if (type === 'Patient') patients.push({ kind: 'reference', param: 'patient', targetType: type, targetId: id, url });
  }
  for (const e of entities) if (e['role'] !== undefined) coding('entity-role', e['role'], out);
  for (const e of entities) if (e['type'] !== undefined) coding('entity-type', e['type'], out);
  code('outcome', r['outcome'], out);
  out.push(...patients);
  if (r['source'] !== undefined) {
    const source = only(r['source'], SOURCE);
    // source.observer: display only, so no `source` entry; source.type is not a search parameter.
    if (source['observer'] !== undefined) only(source['observer'], OBSERVER);
  }
  for (const s of list(r['subtype'])) coding('subtype', s, out);
  if (r['type'] !== undefined) coding('type', r['type'], out);
  return uniqueEntries(out);
}
