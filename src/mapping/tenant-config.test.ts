import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Encounter, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { isSwitchboardError } from '../core/errors.ts';
import { parseMessage } from '../hl7v2/index.ts';
import { loadTenantConfig, lookupCode, parseCodeMapCsv, parseTenantConfig } from './tenant-config.ts';
import { convertV2ToFhir, mapperFor } from './v2-to-fhir.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE = path.join(repoRoot, 'examples/mapping/tenant-example.yaml');

/** A made-up admission for the example tenant: local patient class IP, a ZPI and a ZBE segment. */
const ADT = [
  'MSH|^~\\&|REG|NORTHWIND_GEN|SWB|NORTHWIND_GEN|20240115083000||ADT^A01^ADT_A01|TEN-1|P|2.5.1',
  'EVN|A01|20240115083000',
  'PID|1||NW0001^^^NORTHWIND_GEN^MR~123-45-6789^^^SSA^SS||TESTPERSON^Alex||19800101|F||||||||M^Married^HL70002|CHR^Christian^HL70006',
  'PV1|1|IP|4WEST^412^B||||||||||||||||V77^^^NW_VISIT^VN|||||||||||||||||||||||||20240115080000',
  'ZPI|1|VIP^Y',
  'ZBE|1|20240115080000|MOVE',
].join('\r');

const resourcesOf = (r: { bundle: { entry?: Array<{ resource?: Resource }> } }): Resource[] => (r.bundle.entry ?? []).map((e) => e.resource as Resource);

function codeOf(e: unknown): string | undefined {
  return isSwitchboardError(e) ? e.code : undefined;
}

describe('tenant config: the example file', () => {
  it('loads, with its code map CSV', () => {
    const t = loadTenantConfig(EXAMPLE);
    assert.equal(t.tenant, 'northwind-general');
    assert.equal(t.timezone, 'America/Chicago');
    assert.equal(t.identifierSystems['NORTHWIND_GEN'], 'https://fhir.northwind.example/sid/mrn');
    assert.equal(t.codeSystems['99NWLAB'], 'https://fhir.northwind.example/CodeSystem/lab');
    assert.equal(t.localSystemBase, 'https://fhir.northwind.example/local');
    const labs = t.codeMaps.find((m) => m.name === 'northwind-lab-to-loinc');
    assert.ok(labs !== undefined);
    assert.deepEqual(labs.fields, ['OBX-3', 'OBR-4']);
    assert.equal(labs.entries.size, 6);
    assert.equal(lookupCode(labs, '99NWLAB', 'GLU')?.targetCode, '2345-7');
    // A quoted cell keeps its comma-free text; an entry without a source system matches any system.
    assert.equal(lookupCode(labs, '99NWLAB', 'CBC')?.targetDisplay, 'CBC panel - Blood by Automated count');
    assert.equal(lookupCode(labs, 'ANY', 'TSH')?.targetCode, '3016-3');
    assert.equal(lookupCode(labs, '99NWLAB', 'NOPE'), undefined);
    assert.equal(t.overrides.get('PV1-2')?.valueMap?.['IP'], 'I');
    assert.match(t.overrides.get('PID-17')?.ignore ?? '', /religion/);
    assert.equal(t.zSegments.get('ZPI')?.extensions?.[0]?.type, 'code');
    assert.ok(t.zSegments.get('ZBE')?.ignore !== undefined);
  });

  it('applies identifier systems, overrides, Z rules and the timezone through convertV2ToFhir', () => {
    const tenant = loadTenantConfig(EXAMPLE);
    const result = convertV2ToFhir(parseMessage(ADT), { tenant });
    const resources = resourcesOf(result);
    const patient = resources.find((r): r is Patient => r.resourceType === 'Patient');
    assert.ok(patient !== undefined);
    assert.deepEqual(
      patient.identifier?.map((i) => i.system),
      ['https://fhir.northwind.example/sid/mrn', 'http://hl7.org/fhir/sid/us-ssn'],
    );
    // PID-17 ignored by the override: no religion extension, and the report says why.
    assert.ok(!(patient.extension ?? []).some((e) => e.url.includes('religion')));
    const pid = result.report.segments.find((s) => s.segment === 'PID');
    const pid17 = pid?.fields.find((f) => f.field === 'PID-17');
    assert.equal(pid17?.status, 'skipped');
    assert.match(pid17?.reason ?? '', /tenant override: religion/);
    // ZPI-2.2 as the VIP extension (a code).
    assert.deepEqual(
      patient.extension?.find((e) => e.url === 'https://fhir.northwind.example/StructureDefinition/vip-flag'),
      { url: 'https://fhir.northwind.example/StructureDefinition/vip-flag', valueCode: 'Y' },
    );
    assert.equal(result.report.segments.find((s) => s.segment === 'ZPI')?.status, 'mapped');
    const zbe = result.report.segments.find((s) => s.segment === 'ZBE');
    assert.equal(zbe?.status, 'unmapped');
    assert.match(zbe?.reason ?? '', /tenant rule: bed-board/);
    // PV1-2 IP -> I by the value map, then inpatient (IMP) per the IG's table 0004 map.
    const encounter = resources.find((r): r is Encounter => r.resourceType === 'Encounter');
    assert.equal(encounter?.class.code, 'IMP');
    assert.equal(encounter?.identifier?.[0]?.system, 'https://fhir.northwind.example/sid/visit');
    // No offset in PV1-44 nor MSH-7: the tenant's zone (Chicago is UTC-6 in January).
    assert.equal(encounter?.period?.start, '2024-01-15T08:00:00-06:00');
    assert.ok(!result.report.warnings.some((w) => w.includes('taken as UTC')));
  });

  it('without the tenant: the sent class is unknown, the zone is assumed UTC with a warning', () => {
    const result = convertV2ToFhir(parseMessage(ADT));
    const encounter = resourcesOf(result).find((r): r is Encounter => r.resourceType === 'Encounter');
    assert.equal(encounter?.class.code, 'UNK');
    assert.equal(encounter?.period?.start, '2024-01-15T08:00:00Z');
    assert.ok(result.report.warnings.some((w) => w.includes('taken as UTC')));
    assert.equal(result.report.segments.find((s) => s.segment === 'ZPI')?.status, 'unmapped');
  });

  it('applies the lab code map to OBX-3 (the target coding first, the sent one kept)', (t) => {
    const oru = [
      'MSH|^~\\&|LAB|NORTHWIND_GEN|SWB|NORTHWIND_GEN|20240115083000-0600||ORU^R01^ORU_R01|TEN-2|P|2.5.1',
      'PID|1||NW0001^^^NORTHWIND_GEN^MR||TESTPERSON^Alex||19800101|F',
      'OBR|1|PL1|FL1^LAB|CBC^Blood count^99NWLAB|||20240115070000-0600',
      'OBX|1|NM|GLU^Glucose^99NWLAB||95|mg/dL|70-99||||F|||20240115070000-0600',
      'OBX|2|NM|XYZ^Unmapped^99NWLAB||1|mg/dL|||||F|||20240115070000-0600',
    ].join('\r');
    const msg = parseMessage(oru);
    if (mapperFor(msg) === undefined) return t.skip('no ORU^R01 mapper yet (src/mapping/messages/lab-mapper.ts)');
    const observations = resourcesOf(convertV2ToFhir(msg, { tenant: loadTenantConfig(EXAMPLE) })).filter((r): r is Observation => r.resourceType === 'Observation');
    const glucose = observations.find((o) => o.code.coding?.some((c) => c.code === 'GLU'));
    assert.deepEqual(
      glucose?.code.coding?.map((c) => `${c.system ?? ''}|${c.code ?? ''}`),
      ['http://loinc.org|2345-7', 'https://fhir.northwind.example/CodeSystem/lab|GLU'],
    );
    const other = observations.find((o) => o.code.coding?.some((c) => c.code === 'XYZ'));
    assert.deepEqual(
      other?.code.coding?.map((c) => c.code),
      ['XYZ'],
    );
  });
});

describe('tenant config: code map CSV', () => {
  it('reads quoted cells, doubled quotes, comments and blank lines; the header can order columns', () => {
    const csv = ['# comment', 'targetCode,sourceCode,targetSystem,targetDisplay', '', '1-1,A,http://x,"one, two"', '2-2,B,http://x,"say ""hi"""'].join('\n');
    const entries = parseCodeMapCsv(csv, 'map.csv');
    assert.deepEqual(entries, [
      { sourceCode: 'A', targetSystem: 'http://x', targetCode: '1-1', targetDisplay: 'one, two' },
      { sourceCode: 'B', targetSystem: 'http://x', targetCode: '2-2', targetDisplay: 'say "hi"' },
    ]);
  });

  it('names the file and line of a bad row, and a missing column', () => {
    assert.throws(
      () => parseCodeMapCsv('sourceCode,targetSystem,targetCode\nA,http://x,1\nB,,2\n', 'labs.csv'),
      (e: unknown) => codeOf(e) === 'SWB_ERR_CONFIG_INVALID' && /labs\.csv:3/.test((e as Error).message),
    );
    assert.throws(
      () => parseCodeMapCsv('sourceCode,targetCode\nA,1\n', 'labs.csv'),
      (e: unknown) => codeOf(e) === 'SWB_ERR_CONFIG_INVALID' && /labs\.csv/.test((e as Error).message) && /targetSystem/.test((e as Error).message),
    );
  });
});

describe('tenant config: errors name the path', () => {
  const bad = (doc: unknown, pattern: RegExp): void => {
    assert.throws(
      () => parseTenantConfig(doc, 'site.yaml', '.'),
      (e: unknown) => codeOf(e) === 'SWB_ERR_CONFIG_INVALID' && /site\.yaml/.test((e as Error).message) && pattern.test((e as Error).message),
    );
  };

  it('rejects unknown keys, bad field names, bad Z-segment ids and bad time zones', () => {
    bad({ tenant: 't', codeMap: [] }, /codeMap/);
    bad({ tenant: 't', codeMaps: [{ name: 'x', fields: ['OBX3'] }] }, /codeMaps\.0\.fields\.0/);
    bad({ tenant: 't', overrides: [{ field: 'PID-5', valueMap: { A: 1 } }] }, /overrides\.0\.valueMap\.A/);
    bad({ tenant: 't', zSegments: [{ segment: 'PID' }] }, /zSegments\.0\.segment/);
    bad({ tenant: 't', zSegments: [{ segment: 'ZPI', extensions: [{ field: 0, resource: 'Patient', url: 'u' }] }] }, /zSegments\.0\.extensions\.0\.field/);
    bad({ tenant: 't', timezone: 'Mars/Olympus' }, /timezone/);
    bad({}, /tenant/);
  });

  it('reports a missing CSV file and invalid YAML with their paths', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swb-tenant-'));
    const missing = path.join(dir, 'missing.yaml');
    writeFileSync(missing, 'tenant: t\ncodeMaps:\n  - name: labs\n    file: nope.csv\n');
    assert.throws(
      () => loadTenantConfig(missing),
      (e: unknown) => codeOf(e) === 'SWB_ERR_IO_READ_FAILED' && (e as Error).message.includes(path.join(dir, 'nope.csv')),
    );
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'tenant: [unclosed\n');
    assert.throws(
      () => loadTenantConfig(broken),
      (e: unknown) => codeOf(e) === 'SWB_ERR_CONFIG_INVALID' && (e as Error).message.includes(broken),
    );
    assert.throws(
      () => loadTenantConfig(path.join(dir, 'absent.yaml')),
      (e: unknown) => codeOf(e) === 'SWB_ERR_IO_READ_FAILED',
    );
  });
});
