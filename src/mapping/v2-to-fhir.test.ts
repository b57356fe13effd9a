import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Patient, Provenance } from '@medplum/fhirtypes';
import { isSwitchboardError } from '../core/errors.ts';
import { groupMessage, parseMessage, type Hl7GroupNode } from '../hl7v2/index.ts';
import { unmappedFields } from './mapping-report.ts';
import { parseTenantConfig } from './tenant-config.ts';
import { convertV2ToFhir, supportedMessageTypes } from './v2-to-fhir.ts';

const A01 = [
  'MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GHH LAB|GHH|20240305103000-0500||ADT^A01^ADT_A01|MSG00001|P|2.5.1',
  'EVN|A01|20240305103000-0500',
  'PID|1||PATID1234^^^GHH&2.16.840.1.113883.19.5&ISO^MR~123-45-6789^^^USSSA^SS||Everyman^Adam^A^III||19610615|M||2106-3^White^CDCREC|2222 Home Street^^Greensboro^NC^27401-1020||(555) 555-2004|(555)555-2004||S||PATID12345001^2^M10^GHH^AN|444333333|987654^NC||||||||||||||||||ZZTOP',
  'PV1|1|I|2000^2012^01||||004777^Attend^Aaron^A|||SUR||||ADM|A0|',
  'ZPI|1|custom value^x|',
].join('\r');

/** Each segment's group path as grouping the message directly gives it, and the structure id. */
function groupedDirectly(text: string): { structure: string; groups: string[] } {
  const tree = groupMessage(parseMessage(text));
  const groups: string[] = [];
  const walk = (g: Hl7GroupNode, path: string): void => {
    for (const c of g.children) {
      if (c.kind === 'segment') groups[c.index] = path;
      else walk(c, `${path}/${c.name}[${c.repetition}]`);
    }
  };
  walk(tree.root, tree.root.name);
  return { structure: tree.structure?.id ?? '', groups };
}

describe('convertV2ToFhir', () => {
  it('the report places segments as grouping the message does, for each layout and header, read again or not', () => {
    const withInsurance = `${A01}\rIN1|1|PLAN1^Plan One|INS1|INSURER ONE\rIN1|2|PLAN2^Plan Two|INS2|INSURER TWO`;
    const nk1First = A01.replace('PV1|', 'NK1|1|Everyman^Eve|SPO^Spouse^HL70063\rPV1|');
    const declaredA05 = A01.replace('ADT^A01^ADT_A01', 'ADT^A01^ADT_A05');
    const version23 = withInsurance.replace('|P|2.5.1', '|P|2.3');
    // Twice each, interleaved: a report placed from the layouts of the messages before must be the same.
    for (const text of [A01, withInsurance, nk1First, declaredA05, version23, A01, withInsurance, nk1First, declaredA05, version23]) {
      const report = convertV2ToFhir(parseMessage(text)).report;
      const expected = groupedDirectly(text);
      assert.equal(report.structure, expected.structure);
      assert.deepEqual(report.segments.map((s) => s.group), expected.groups);
    }
    assert.equal(convertV2ToFhir(parseMessage(declaredA05)).report.structure, 'ADT_A05');
    assert.ok(convertV2ToFhir(parseMessage(withInsurance)).report.segments.some((s) => s.segment === 'IN1' && s.group.includes('INSURANCE[2]')));
  });

  it('produces a transaction of PUTs with deterministic ids: re-sending updates the same resources', () => {
    const a = convertV2ToFhir(parseMessage(A01), { now: () => new Date('2024-03-05T16:00:00Z') });
    const b = convertV2ToFhir(parseMessage(A01), { now: () => new Date('2030-01-01T00:00:00Z') });
    assert.equal(a.bundle.type, 'transaction');
    const urls = (x: typeof a) => x.bundle.entry!.map((e) => e.request!.url);
    assert.deepEqual(urls(a), urls(b));
    for (const e of a.bundle.entry!) {
      assert.equal(e.request!.method, 'PUT');
      assert.equal(e.request!.url, `${e.resource!.resourceType}/${e.resource!.id}`);
    }
    // Another patient: another Patient id.
    const other = convertV2ToFhir(parseMessage(A01.replace('PATID1234^', 'PATID9999^')));
    const pid = (x: typeof a) => x.bundle.entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource!.id;
    assert.notEqual(pid(a), pid(other));
  });

  it('maps PID to a Patient with identifiers, name, gender, birth date, address', () => {
    const { bundle } = convertV2ToFhir(parseMessage(A01));
    const p = bundle.entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource as Patient;
    assert.deepEqual(p.identifier?.map((i) => [i.system, i.value]), [
      ['urn:oid:2.16.840.1.113883.19.5', 'PATID1234'],
      ['urn:switchboard:local:id:USSSA', '123-45-6789'],
      ['http://hl7.org/fhir/sid/us-ssn', '444333333'],
      [undefined, '987654'],
    ]);
    assert.deepEqual(p.name?.[0], { family: 'Everyman', given: ['Adam', 'A'], suffix: ['III'] });
    assert.equal(p.gender, 'male');
    assert.equal(p.birthDate, '1961-06-15');
    assert.equal(p.address?.[0]?.city, 'Greensboro');
    assert.equal(p.maritalStatus?.coding?.[0]?.code, 'S');
  });

  it('the Provenance targets every resource and names the message by control id', () => {
    const { bundle } = convertV2ToFhir(parseMessage(A01));
    const prov = bundle.entry!.find((e) => e.resource!.resourceType === 'Provenance')!.resource as Provenance;
    const others = bundle.entry!.filter((e) => !['Provenance', 'MessageHeader'].includes(e.resource!.resourceType)).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
    assert.deepEqual(prov.target.map((t) => t.reference).sort(), others.sort());
    assert.equal(prov.recorded, '2024-03-05T10:30:00-05:00');
    assert.equal(prov.entity?.[0]?.what.identifier?.value, 'MSG00001');
  });

  it('reports every present field: mapped with its target, skipped with a reason, or unmapped', () => {
    const { report } = convertV2ToFhir(parseMessage(A01));
    const pidSeg = report.segments.find((s) => s.segment === 'PID')!;
    const f = (name: string) => pidSeg.fields.find((x) => x.field === name);
    assert.equal(f('PID-5')?.status, 'mapped');
    assert.deepEqual(f('PID-5')?.targets, ['Patient.name']);
    assert.equal(f('PID-1')?.status, 'skipped');
    // PID-38 (production class) has no mapping: present and reported, not silently dropped.
    assert.equal(f('PID-38')?.status, 'unmapped');
    assert.equal(pidSeg.status, 'partial');
    const z = report.segments.find((s) => s.segment === 'ZPI')!;
    assert.equal(z.status, 'unmapped');
    assert.match(z.reason!, /Z-segment/);
    assert.ok(unmappedFields(report).some((u) => u.field === 'ZPI-2'));
    assert.equal(report.summary.fieldsUnmapped, unmappedFields(report).filter((u) => u.status === 'unmapped').length);
    // No field values leak into the report.
    assert.ok(!JSON.stringify(report).includes('Everyman'));
  });

  it('applies tenant overrides and Z-segment rules', () => {
    const tenant = parseTenantConfig(
      {
        tenant: 'north',
        identifierSystems: { USSSA: 'http://hl7.org/fhir/sid/us-ssn' },
        overrides: [{ field: 'PID-16', ignore: 'marital status is not shared with this tenant' }, { field: 'PID-8', valueMap: { X: 'F' } }],
        zSegments: [{ segment: 'ZPI', extensions: [{ field: 2, resource: 'Patient', url: 'https://north.example/fhir/ext/custom', type: 'string' }] }],
      },
      'north.yaml',
      '.',
    );
    const { bundle, report } = convertV2ToFhir(parseMessage(A01.replace('|M||2106', '|X||2106')), { tenant });
    const p = bundle.entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource as Patient;
    assert.equal(p.maritalStatus, undefined);
    assert.equal(p.gender, 'female');
    assert.equal(p.identifier?.[1]?.system, 'http://hl7.org/fhir/sid/us-ssn');
    assert.deepEqual(p.extension?.find((e) => e.url === 'https://north.example/fhir/ext/custom'), { url: 'https://north.example/fhir/ext/custom', valueString: 'custom value' });
    const pid16 = report.segments.find((s) => s.segment === 'PID')!.fields.find((x) => x.field === 'PID-16');
    assert.equal(pid16?.status, 'skipped');
    assert.match(pid16!.reason!, /not shared/);
    assert.equal(report.segments.find((s) => s.segment === 'ZPI')!.status, 'mapped');
  });

  it('validate: the resources pass FHIR R4 structural validation; an invalid one is refused, located, without values', () => {
    assert.doesNotThrow(() => convertV2ToFhir(parseMessage(A01), { validate: true }));
    const tenant = parseTenantConfig({ tenant: 't', identifierSystems: { GHH: 'not a uri' } }, 't.yaml', '.');
    assert.throws(
      () => convertV2ToFhir(parseMessage(A01), { tenant, validate: true }),
      (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_MAP_INVALID_RESOURCE' && /Patient/.test(e.message) && /identifier\[0\]\.system/.test(e.message) && !e.message.includes('PATID1234'),
    );
  });

  it('refuses a message type without a mapper with a stable code', () => {
    assert.ok(supportedMessageTypes().includes('ADT^A01'));
    assert.throws(
      () => convertV2ToFhir(parseMessage('MSH|^~\\&|||||20240101||QRY^Q01|1|P|2.5.1')),
      (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_MAP_UNSUPPORTED_MESSAGE' && e.failureClass === 'permanent',
    );
  });
});
