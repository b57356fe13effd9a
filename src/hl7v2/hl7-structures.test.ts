import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_ENCODING } from './hl7-encoding.ts';
import { parseMessage, type Hl7Message } from './hl7-message.ts';
import { Hl7Segment } from './hl7-segment.ts';
import { childGroups, flattenSegments, groupMessage, groupSegments, groups, outline, segmentOf, segmentsOf, type Hl7GroupNode } from './hl7-structure-parser.ts';
import {
  STRUCTURE_IDS,
  SUPPORTED_VERSIONS,
  compareVersions,
  resolveStructure,
  structureFor,
  structureForEvent,
  structureVersion,
  type StructureGroup,
} from './hl7-structures.ts';

// Messages written for these tests; identifiers and names are invented.
const msg = (...lines: string[]): Hl7Message => parseMessage(lines.join('\r'));

/** OBX-3.1 of every OBX directly in a group, e.g. ['GLU', 'CRE']. */
const obxCodes = (g: Hl7GroupNode): string[] => segmentsOf(g, 'OBX').map((s) => String(s.get('3.1')));

function allIds(g: StructureGroup): string[] {
  return g.children.flatMap((c) => (c.kind === 'segment' ? [...c.ids] : allIds(c)));
}

describe('structure data', () => {
  test('every structure compiles for every supported version, starting with MSH', () => {
    for (const id of STRUCTURE_IDS) {
      for (const v of SUPPORTED_VERSIONS) {
        const s = structureFor(id, v);
        assert.ok(s, `${id} ${v}`);
        assert.equal(s.root.name, id);
        const first = s.root.children[0];
        assert.ok(first?.kind === 'segment' && first.ids[0] === 'MSH' && !first.optional, `${id} ${v} starts with MSH`);
      }
    }
  });

  test('version ranges: SFT from 2.5, ARV from 2.6, UAC and PRT from 2.7, SPM from 2.5', () => {
    const ids = (id: string, v: string): string[] => allIds((structureFor(id, v) as { root: StructureGroup }).root);
    assert.ok(!ids('ADT_A01', '2.4').includes('SFT'));
    assert.ok(ids('ADT_A01', '2.5').includes('SFT'));
    assert.ok(!ids('ADT_A01', '2.5.1').includes('ARV'));
    assert.ok(ids('ADT_A01', '2.6').includes('ARV'));
    assert.ok(!ids('ORU_R01', '2.6').includes('UAC'));
    assert.ok(ids('ORU_R01', '2.7').includes('UAC'));
    assert.ok(ids('ORU_R01', '2.7.1').includes('PRT'));
    assert.ok(!ids('ORU_R01', '2.4').includes('SPM'));
    assert.ok(ids('ORU_R01', '2.5.1').includes('SPM'));
    assert.ok(!ids('ACK', '2.4').includes('SFT'));
  });

  test('versions compare numerically and map to the nearest described one', () => {
    assert.ok(compareVersions('2.5', '2.5.1') < 0);
    assert.ok(compareVersions('2.10', '2.9') > 0);
    assert.deepEqual(structureVersion('2.5.1'), { version: '2.5.1', supported: true });
    assert.deepEqual(structureVersion('2.2'), { version: '2.3', supported: false });
    assert.deepEqual(structureVersion('2.9'), { version: '2.8', supported: false });
    assert.deepEqual(structureVersion(''), { version: '2.5.1', supported: false });
  });

  test('events map to structures as in table 0354', () => {
    for (const e of ['A01', 'A04', 'A08', 'A13']) assert.equal(structureForEvent('ADT', e), 'ADT_A01');
    assert.equal(structureForEvent('ADT', 'A03'), 'ADT_A03');
    assert.equal(structureForEvent('ADT', 'A40'), 'ADT_A39');
    for (const e of ['S12', 'S13', 'S14', 'S15', 'S26']) assert.equal(structureForEvent('SIU', e), 'SIU_S12');
    assert.equal(structureForEvent('SIU', 'S25'), undefined);
    for (const e of ['T01', 'T03', 'T05', 'T07', 'T09', 'T11']) assert.equal(structureForEvent('MDM', e), 'MDM_T01');
    for (const e of ['T02', 'T04', 'T06', 'T08', 'T10']) assert.equal(structureForEvent('MDM', e), 'MDM_T02');
    assert.equal(structureForEvent('ACK', 'A01'), 'ACK');
    assert.equal(structureForEvent('VXU', 'V04'), 'VXU_V04');
  });

  test('MSH-9.3 wins when it names a described structure; otherwise the event decides', () => {
    assert.deepEqual(resolveStructure('ADT', 'A03', 'ADT_A05'), { kind: 'known', id: 'ADT_A05', via: 'msh-9.3', eventStructure: 'ADT_A03', declared: 'ADT_A05' });
    assert.equal((resolveStructure('SIU', 'S13', 'SIU_S13') as { id: string }).id, 'SIU_S12');
    assert.deepEqual(resolveStructure('BAR', 'P01'), { kind: 'unknown', reason: 'message-code', declared: '' });
    assert.deepEqual(resolveStructure('ADT', 'A45', 'ADT_A45'), { kind: 'unknown', reason: 'event', declared: 'ADT_A45' });
  });
});

describe('groupMessage', () => {
  test('ORU_R01 v2.5.1: each OBX lands in its ORDER_OBSERVATION, OBSERVATION or SPECIMEN group', () => {
    const m = msg(
      'MSH|^~\\&|LAB|NORTH|EHR|NORTH|20240305103000-0500||ORU^R01^ORU_R01|LAB0001|P|2.5.1',
      'PID|1||MRN100^^^NORTH^MR||RIVERA^ANA||19800214|F',
      'PV1|1|O',
      'ORC|RE|PL100|FL100',
      'OBR|1|PL100|FL100|24323-8^Comprehensive metabolic panel^LN|||20240305080000-0500',
      'NTE|1|L|fasting specimen',
      'OBX|1|NM|GLU^Glucose^L||95|mg/dL|70-99|N|||F',
      'NTE|1|L|note on glucose',
      'NTE|2|L|second note on glucose',
      'OBX|2|NM|CRE^Creatinine^L||0.9|mg/dL|0.6-1.2|N|||F',
      'OBX|3|NM|NA^Sodium^L||140|mmol/L|135-145|N|||F',
      'NTE|1|L|note on sodium',
      'SPM|1|SP100||SER^Serum^HL70487',
      'OBX|1|NM|TEMP^Specimen temperature^L||4|Cel|||||F',
      'ORC|RE|PL200|FL200',
      'OBR|2|PL200|FL200|58410-2^CBC panel^LN|||20240305080000-0500',
      'OBX|1|NM|WBC^Leukocytes^L||7.5|10*3/uL|4-11|N|||F',
      'NTE|1|L|note on WBC',
      'OBX|2|NM|HGB^Hemoglobin^L||13.2|g/dL|12-16|N|||F',
      'SPM|1|SP200||BLD^Whole blood^HL70487',
      'OBX|1|ST|HEMO^Hemolysis^L||none||||||F',
      'OBX|2|ST|CLOT^Clotted^L||no||||||F',
    );
    const tree = groupMessage(m);
    assert.equal(tree.structure?.id, 'ORU_R01');
    assert.deepEqual(tree.unexpected, []);
    const orders = groups(tree, 'ORDER_OBSERVATION');
    assert.equal(orders.length, 2);
    const [o1, o2] = orders as [Hl7GroupNode, Hl7GroupNode];
    assert.equal(segmentOf(o1, 'OBR')?.get('4.1'), '24323-8');
    assert.equal(segmentsOf(o1, 'NTE').length, 1, 'the order-level NTE stays with OBR');
    const obs1 = childGroups(o1, 'OBSERVATION');
    assert.deepEqual(obs1.map(obxCodes), [['GLU'], ['CRE'], ['NA']]);
    assert.deepEqual(obs1.map((g) => segmentsOf(g, 'NTE').length), [2, 0, 1]);
    assert.deepEqual(childGroups(o1, 'SPECIMEN').map(obxCodes), [['TEMP']]);
    assert.deepEqual(childGroups(o2, 'OBSERVATION').map(obxCodes), [['WBC'], ['HGB']]);
    assert.deepEqual(childGroups(o2, 'SPECIMEN').map(obxCodes), [['HEMO', 'CLOT']]);
    assert.equal(segmentsOf(childGroups(o2, 'OBSERVATION')[0] as Hl7GroupNode, 'NTE').length, 1);
    assert.equal(groups(tree, 'VISIT').length, 1);
    assert.deepEqual(flattenSegments(tree), m.segments);
  });

  test('ORU_R01 v2.3 has no SPECIMEN group: an SPM there is kept and reported', () => {
    const m = msg(
      'MSH|^~\\&|LAB|NORTH|EHR|NORTH|199903051030||ORU^R01|LAB0002|P|2.3',
      'PID|1||MRN200^^^NORTH^MR||OKAFOR^BEN',
      'OBR|1|PL300||GLU^Glucose^L',
      'OBX|1|NM|GLU^Glucose^L||101|mg/dL|||||F',
      'NTE|1||recheck',
      'OBX|2|NM|K^Potassium^L||4.1|mmol/L|||||F',
      'SPM|1|SP300||SER^Serum^HL70487',
    );
    const tree = groupMessage(m);
    assert.equal(tree.version, '2.3');
    assert.deepEqual(childGroups(groups(tree, 'ORDER_OBSERVATION')[0] as Hl7GroupNode, 'OBSERVATION').map(obxCodes), [['GLU'], ['K']]);
    assert.equal(groups(tree, 'SPECIMEN').length, 0);
    assert.deepEqual(
      tree.unexpected.map((u) => [u.name, u.problem]),
      [['SPM', 'not-in-structure']],
    );
    assert.deepEqual(flattenSegments(tree), m.segments);
  });

  test('OML_O21: an ORC opens the next ORDER, not a PRIOR_RESULT', () => {
    const m = msg(
      'MSH|^~\\&|CPOE|NORTH|LIS|NORTH|20240305090000||OML^O21^OML_O21|ORD0001|P|2.5.1',
      'PID|1||MRN300^^^NORTH^MR||CHEN^LI',
      'PV1|1|O',
      'ORC|NW|PL1',
      'TQ1|1||||||20240305090000',
      'OBR|1|PL1||2345-7^Glucose^LN',
      'NTE|1||fasting',
      'SPM|1|SP1||SER^Serum^HL70487',
      'ORC|NW|PL2',
      'OBR|2|PL2||718-7^Hemoglobin^LN',
      'OBX|1|NM|8302-2^Height^LN||170|cm|||||F',
      'ORC|NW|PL3',
      'OBR|3|PL3||2160-0^Creatinine^LN',
      'DG1|1||E11.9^Type 2 diabetes^I10||||A',
    );
    const tree = groupMessage(m);
    assert.deepEqual(tree.unexpected, []);
    const orders = groups(tree, 'ORDER');
    assert.deepEqual(orders.map((o) => segmentOf(o, 'ORC')?.get('2')), ['PL1', 'PL2', 'PL3']);
    assert.deepEqual(orders.map((o) => segmentOf(childGroups(o, 'OBSERVATION_REQUEST')[0] as Hl7GroupNode, 'OBR')?.get('2')), ['PL1', 'PL2', 'PL3']);
    assert.equal(groups(tree, 'PRIOR_RESULT').length, 0);
    assert.equal(groups(orders[0] as Hl7GroupNode, 'SPECIMEN').length, 1);
    assert.equal(groups(orders[0] as Hl7GroupNode, 'TIMING').length, 1);
    assert.deepEqual(groups(orders[1] as Hl7GroupNode, 'OBSERVATION').map(obxCodes), [['8302-2']]);
    assert.deepEqual(flattenSegments(tree), m.segments);
  });

  test('ADT_A01: a Z-segment stays after the segment before it, in its group', () => {
    const m = msg(
      'MSH|^~\\&|REG|NORTH|EHR|NORTH|20240305103000||ADT^A01^ADT_A01|ADT0001|P|2.5.1',
      'EVN|A01|20240305103000',
      'PID|1||MRN400^^^NORTH^MR||NOVAK^EVA||19750505|F',
      'ZPI|local patient flag',
      'PV1|1|I|W1^101^A',
      'PR1|1||0DTJ4ZZ^Resection^I10P||20240305',
      'ZPR|local procedure note',
      'IN1|1|PLAN1^Plan^L|INS1^^^NORTH',
      'ZZZ|trailing',
    );
    const tree = groupMessage(m);
    assert.deepEqual(tree.unexpected, []);
    assert.match(outline(tree), /PID #3\n {2}ZPI #4 \(z\)\n {2}PV1 #5/);
    const proc = groups(tree, 'PROCEDURE')[0] as Hl7GroupNode;
    assert.deepEqual(proc.children.map((c) => c.kind === 'segment' && c.name), ['PR1', 'ZPR']);
    const ins = groups(tree, 'INSURANCE')[0] as Hl7GroupNode;
    assert.deepEqual(segmentsOf(ins).map((s) => s.name), ['IN1', 'ZZZ']);
    assert.deepEqual(flattenSegments(tree), m.segments);
  });

  test('ADT^A04 and ADT^A08 group as ADT_A01; ADT^A40 as ADT_A39 with one PATIENT per merge', () => {
    assert.equal(groupMessage(msg('MSH|^~\\&|||||20240305||ADT^A04|1|P|2.4', 'EVN|A04|20240305', 'PID|||1||X', 'PV1||O')).structure?.id, 'ADT_A01');
    assert.equal(groupMessage(msg('MSH|^~\\&|||||20240305||ADT^A08|1|P|2.3', 'EVN|A08|20240305', 'PID|||1||X', 'PV1||O')).structure?.id, 'ADT_A01');
    const m = msg(
      'MSH|^~\\&|MPI|NORTH|EHR|NORTH|20240305110000||ADT^A40^ADT_A39|MRG0001|P|2.5',
      'EVN|A40|20240305110000',
      'PID|1||MRN500^^^NORTH^MR||LUND^ERIK',
      'MRG|MRN501^^^NORTH^MR',
      'PID|2||MRN600^^^NORTH^MR||LUND^SARA',
      'PD1|||NORTH CLINIC',
      'MRG|MRN601^^^NORTH^MR',
      'PV1|1|O',
    );
    const tree = groupMessage(m);
    assert.equal(tree.structure?.id, 'ADT_A39');
    const patients = groups(tree, 'PATIENT');
    assert.deepEqual(patients.map((p) => segmentsOf(p).map((s) => s.name)), [['PID', 'MRG'], ['PID', 'PD1', 'MRG', 'PV1']]);
    assert.deepEqual(patients.map((p) => p.repetition), [1, 2]);
  });

  test('a repeated EVN is kept in place and marked', () => {
    const m = msg('MSH|^~\\&|||||20240305||ADT^A01|1|P|2.5.1', 'EVN|A01|20240305', 'EVN|A01|20240305', 'PID|||1||X', 'PV1||O');
    const tree = groupMessage(m);
    assert.deepEqual(tree.unexpected.map((u) => [u.name, u.index, u.problem]), [['EVN', 2, 'repeated']]);
    assert.deepEqual(flattenSegments(tree), m.segments);
  });

  test('an undescribed type gives a flat tree that still holds every segment', () => {
    const m = msg('MSH|^~\\&|||||20240305||BAR^P01|1|P|2.5.1', 'EVN|P01|20240305', 'PID|||1||X', 'PV1||O');
    const tree = groupMessage(m);
    assert.equal(tree.structure, undefined);
    assert.equal(tree.root.name, 'BAR_P01');
    assert.deepEqual(flattenSegments(tree), m.segments);
  });

  test('property: grouping never throws, loses or reorders segments', () => {
    const alphabet = ['MSH', 'EVN', 'PID', 'PD1', 'NK1', 'PV1', 'PV2', 'ORC', 'OBR', 'OBX', 'NTE', 'SPM', 'TQ1', 'MRG', 'TXA', 'SCH', 'RGS', 'AIS', 'AIL', 'RXA', 'RXR', 'IN1', 'MSA', 'ERR', 'SAC', 'ZXY', 'QQQ'];
    const version = fc.constantFrom(...SUPPORTED_VERSIONS, '2.2', '2.9');
    fc.assert(
      fc.property(fc.constantFrom(...STRUCTURE_IDS), version, fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (id, v, names) => {
        const segments = ['MSH', ...names].map((n, i) => new Hl7Segment(n, i === 0 ? 'MSH|^~\\&' : `${n}|${i}`, DEFAULT_ENCODING));
        const structure = structureFor(id, v);
        assert.ok(structure);
        const { root, unexpected } = groupSegments(segments, structure);
        assert.deepEqual(flattenSegments(root), segments);
        for (const u of unexpected) assert.ok(segments.includes(u.segment));
      }),
      { numRuns: 500 },
    );
  });
});
