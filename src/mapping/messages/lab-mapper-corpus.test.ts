import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { validateResource } from '../../fhir/fhir-validator.ts';
import { SwitchboardError } from '../../core/errors.ts';
import { parseBatch, validateMessage, type Hl7Message } from '../../hl7v2/index.ts';
import { convertV2ToFhir } from '../v2-to-fhir.ts';

/**
 * Every ORU^R01, ORM^O01 and OML^O21 message of the public corpora named in issue 4
 * (microsoft-fhir-converter, reportstream, v2-to-fhir-ig) that parses converts without throwing;
 * no OBX is lost (one Observation per OBX, and at least as many Observations carrying a value as
 * OBX with a value); the lab resources pass the FHIR R4 schema. Prints a table per source.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const corpusRoot = resolve(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus');
const SOURCES = ['microsoft-fhir-converter', 'reportstream', 'v2-to-fhir-ig'];
const EVENTS = new Set(['ORU^R01', 'ORM^O01', 'OML^O21']);
/** The resources the lab mapper builds itself. */
const OWN = new Set(['Observation', 'ServiceRequest', 'DiagnosticReport', 'Specimen', 'DocumentReference', 'PractitionerRole']);

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else if (/\.(hl7|txt)$/i.test(name)) out.push(p);
  }
  return out;
}

function hasValue(o: Observation): boolean {
  return Object.keys(o).some((k) => k.startsWith('value')) || o.component !== undefined || o.derivedFrom !== undefined;
}

test('every corpus ORU/ORM/OML message converts, loses no OBX, and its lab resources pass the R4 schema', (t) => {
  const roots = SOURCES.map((s) => join(corpusRoot, 'hl7v2', s)).filter((p) => existsSync(p));
  if (roots.length === 0) {
    t.skip(`corpus not found under ${join(corpusRoot, 'hl7v2')} (set SWITCHBOARD_CORPUS)`);
    return;
  }
  const failures: string[] = [];
  let refused = 0;
  const check = (ok: boolean, what: string): void => {
    if (!ok) failures.push(what);
  };
  const rows = new Map<string, { messages: number; obx: number; obxWithValue: number; observations: number; reports: number; requests: number; specimens: number; unmapped: number }>();
  for (const root of roots) {
    for (const file of filesUnder(root)) {
      let messages: Hl7Message[];
      try {
        messages = parseBatch(readFileSync(file)).messages;
      } catch {
        continue; // the parser's own tests cover what it refuses
      }
      for (const [i, m] of messages.entries()) {
        const event = `${m.messageCode}^${m.triggerEvent}`;
        if (!EVENTS.has(event)) continue;
        const where = `${relative(corpusRoot, file)}#${i + 1} (${event})`;
        let result;
        try {
          result = convertV2ToFhir(m, { now: () => new Date('2024-01-01T00:00:00Z') });
        } catch (e) {
          // A message the HL7 validator rejects may be refused, but only with a located error
          // (issue 4: "exit 1 on a message it cannot convert, with a located error").
          const located = e instanceof SwitchboardError && (e.code === 'SWB_ERR_HL7_BAD_VALUE' || e.code.startsWith('SWB_ERR_MAP_'));
          if (!located || validateMessage(m).valid) failures.push(`${where} threw: ${String(e)}`);
          else refused++;
          continue;
        }
        const obxSegments = m.segments.filter((s) => s.name === 'OBX');
        const withValue = obxSegments.filter((s) => {
          const v = s.rawField(5);
          return v !== undefined && v !== '' && v !== '""';
        }).length;
        const resources = (result.bundle.entry ?? []).map((e) => e.resource as Resource);
        const observations = resources.filter((r): r is Observation => r.resourceType === 'Observation');
        // PD1-7 (living will) may add an Observation of its own; every OBX has exactly one.
        const fromObx = result.report.segments.filter((s) => s.segment === 'OBX');
        check(fromObx.every((s) => s.status !== 'unmapped'), `${where}: an OBX was not mapped`);
        check(observations.length >= obxSegments.length, `${where}: ${obxSegments.length} OBX but ${observations.length} Observations`);
        check(observations.filter(hasValue).length >= withValue, `${where}: ${withValue} OBX with a value but fewer Observations with one`);
        for (const r of resources) {
          if (!OWN.has(r.resourceType)) continue;
          const v = validateResource(r);
          check(v.valid, `${where} ${r.resourceType}/${r.id ?? ''}: ${JSON.stringify(v.issues.slice(0, 3))}`);
        }
        const source = relative(join(corpusRoot, 'hl7v2'), file).split(/[\\/]/)[0] ?? '';
        const key = `${source} ${event}`;
        const row = rows.get(key) ?? { messages: 0, obx: 0, obxWithValue: 0, observations: 0, reports: 0, requests: 0, specimens: 0, unmapped: 0 };
        row.messages++;
        row.obx += obxSegments.length;
        row.obxWithValue += withValue;
        row.observations += observations.length;
        row.reports += result.report.resources['DiagnosticReport'] ?? 0;
        row.requests += result.report.resources['ServiceRequest'] ?? 0;
        row.specimens += result.report.resources['Specimen'] ?? 0;
        row.unmapped += result.report.summary.fieldsUnmapped;
        rows.set(key, row);
      }
    }
  }
  const head = ['source event', 'msgs', 'OBX', 'OBX+val', 'Obs', 'DxRpt', 'SvcReq', 'Spec', 'unmapped'];
  const lines = [head.map((h, i) => (i === 0 ? h.padEnd(38) : h.padStart(8))).join(' ')];
  for (const [k, r] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push([k.padEnd(38), ...[r.messages, r.obx, r.obxWithValue, r.observations, r.reports, r.requests, r.specimens, r.unmapped].map((n) => String(n).padStart(8))].join(' '));
  }
  console.log(`\n${lines.join('\n')}\n(unmapped: fields present that no mapper read or skipped, all segments)\n${refused} invalid messages refused with a located error\n`);
  assert.ok(rows.size > 0, 'no ORU/ORM/OML message found in the corpus');
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
});
