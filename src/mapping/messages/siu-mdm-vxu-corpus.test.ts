import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@medplum/fhirtypes';
import { validateResource } from '../../fhir/fhir-validator.ts';
import { parseBatch, type Hl7Message } from '../../hl7v2/index.ts';
import { convertV2ToFhir } from '../v2-to-fhir.ts';

/**
 * Every SIU, MDM and VXU message of the public corpus (../shared/corpus/hl7v2) that parses converts
 * without throwing, with the resource its mapper is for, and that resource passes the FHIR R4 schema.
 * A table per message type shows messages, resources and fields left unmapped.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const corpusRoot = resolve(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus');
const hl7Root = join(corpusRoot, 'hl7v2');
/** The resources the SIU, MDM and VXU mappers build themselves. */
const OWN = new Set(['Appointment', 'DocumentReference', 'Immunization', 'Device']);
const TYPES: Readonly<Record<string, string>> = { SIU: 'Appointment', MDM: 'DocumentReference', VXU: 'Immunization' };

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else if (/\.(hl7|txt)$/i.test(name)) out.push(p);
  }
  return out;
}

test('every corpus SIU/MDM/VXU message converts, and its own resources pass the R4 schema', (t) => {
  if (!existsSync(hl7Root)) {
    t.skip(`corpus not found at ${hl7Root} (set SWITCHBOARD_CORPUS)`);
    return;
  }
  const rows = new Map<string, { messages: number; resources: number; invalidOther: number; unmapped: number; warnings: number }>();
  for (const file of filesUnder(hl7Root)) {
    let messages: Hl7Message[];
    try {
      messages = parseBatch(readFileSync(file)).messages;
    } catch {
      continue; // the parser's own tests cover what it refuses
    }
    for (const [i, m] of messages.entries()) {
      const expected = TYPES[m.messageCode ?? ''];
      if (expected === undefined) continue;
      const where = `${relative(corpusRoot, file)}#${i + 1} (${m.messageCode}^${m.triggerEvent})`;
      let result;
      try {
        result = convertV2ToFhir(m, { now: () => new Date('2024-01-01T00:00:00Z') });
      } catch (e) {
        assert.fail(`${where} threw: ${String(e)}`);
      }
      // The resources these mappers build must be valid; others (Patient, Encounter...) are the
      // other mappers' and only counted here.
      let invalid = 0;
      for (const entry of result.bundle.entry ?? []) {
        const resource = entry.resource as Resource;
        const validation = validateResource(resource);
        if (OWN.has(resource.resourceType)) assert.ok(validation.valid, `${where} ${resource.resourceType}: ${JSON.stringify(validation.issues.slice(0, 3))}`);
        else if (!validation.valid) invalid++;
      }
      assert.ok((result.report.resources[expected] ?? 0) >= 1, `${where}: no ${expected}`);
      const key = `${m.messageCode}^${m.triggerEvent}`;
      const row = rows.get(key) ?? { messages: 0, resources: 0, invalidOther: 0, unmapped: 0, warnings: 0 };
      row.messages++;
      row.resources += result.bundle.entry?.length ?? 0;
      row.invalidOther += invalid;
      row.unmapped += result.report.summary.fieldsUnmapped;
      row.warnings += result.report.warnings.length;
      rows.set(key, row);
    }
  }
  const lines = [`${'type'.padEnd(10)} ${'messages'.padStart(8)} ${'resources'.padStart(9)} ${'invalid*'.padStart(8)} ${'unmapped'.padStart(8)} ${'warnings'.padStart(8)}`];
  for (const [k, r] of [...rows].sort(([a], [b]) => a.localeCompare(b))) lines.push(`${k.padEnd(10)} ${String(r.messages).padStart(8)} ${String(r.resources).padStart(9)} ${String(r.invalidOther).padStart(8)} ${String(r.unmapped).padStart(8)} ${String(r.warnings).padStart(8)}`);
  console.log(`\n${lines.join('\n')}\n(invalid*: resources of other mappers that fail the R4 schema)\n`);
  assert.ok(rows.size > 0, 'no SIU/MDM/VXU message found in the corpus');
});
