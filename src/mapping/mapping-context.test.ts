import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupMessage, parseMessage } from '../hl7v2/index.ts';
import { deterministicId } from './fhir-ids.ts';
import { MappingContext, zoneOffset } from './mapping-context.ts';
import { parseTenantConfig } from './tenant-config.ts';

const msg = (msh7: string): MappingContext => {
  const m = parseMessage(`MSH|^~\\&|APP|FAC|||${msh7}||ADT^A01|C1|P|2.5.1\rPID|1||123^^^HOSP^MR`);
  return new MappingContext(m, groupMessage(m));
};
/** ctx.dateTime of `raw` read as a TS from PID-7 of a second message (ctx's MSH-7 is the default offset). */
const ts = (ctx: MappingContext, raw: string): string | undefined => ctxRead(ctx, raw);
function ctxRead(ctx: MappingContext, raw: string): string | undefined {
  const m = parseMessage(`MSH|^~\\&|||||20240101||ADT^A01|X|P|2.5.1\rPID|1||1||||${raw}`);
  return ctx.dateTime(m.read('PID-7', 'TS'), 'PID-7');
}

describe('MappingContext.dateTime (timezone and precision)', () => {
  it('keeps a sent offset and the sent precision', () => {
    const ctx = msg('20240305103000');
    assert.equal(ts(ctx, '20240305103000.25-0500'), '2024-03-05T10:30:00.25-05:00');
    assert.equal(ts(ctx, '20240305'), '2024-03-05');
    assert.equal(ts(ctx, '202403'), '2024-03');
    assert.equal(ts(ctx, '2024'), '2024');
  });

  it('adds seconds to a minute- or hour-precision time (FHIR needs them)', () => {
    const ctx = msg('20240305103000+0100');
    assert.equal(ts(ctx, '202403051030'), '2024-03-05T10:30:00+01:00');
    assert.equal(ts(ctx, '2024030510'), '2024-03-05T10:00:00+01:00');
  });

  it('takes the MSH-7 offset for a time sent without one', () => {
    const ctx = msg('20240305103000-0700');
    assert.equal(ts(ctx, '20240305101500'), '2024-03-05T10:15:00-07:00');
    assert.deepEqual(ctx.warnings, []);
  });

  it('else the tenant timezone (with daylight saving), else UTC with a warning', () => {
    const m = parseMessage('MSH|^~\\&|||||20240701||ADT^A01|C1|P|2.5.1');
    const tenant = parseTenantConfig({ tenant: 't', timezone: 'America/New_York' }, 't.yaml', '.');
    const ny = new MappingContext(m, groupMessage(m), { tenant });
    assert.equal(ctxRead(ny, '20240701120000'), '2024-07-01T12:00:00-04:00');
    assert.equal(ctxRead(ny, '20240115120000'), '2024-01-15T12:00:00-05:00');
    const bare = new MappingContext(m, groupMessage(m));
    assert.equal(ctxRead(bare, '20240701120000'), '2024-07-01T12:00:00Z');
    assert.equal(bare.warnings.length, 1);
    assert.match(bare.warnings[0]!, /PID-7.*UTC/);
  });

  it('instant() refuses values coarser than a second', () => {
    const ctx = msg('20240305103000+0000');
    const m = parseMessage('MSH|^~\\&|||||20240101||ADT^A01|X|P|2.5.1\rPID|1||1||||20240305');
    assert.equal(ctx.instant(m.read('PID-7', 'TS'), 'PID-7'), undefined);
  });
});

describe('zoneOffset', () => {
  it('gives the offset of an IANA zone at a local time', () => {
    assert.equal(zoneOffset('Europe/Paris', '2024-07-01T12:00:00'), '+02:00');
    assert.equal(zoneOffset('Europe/Paris', '2024-01-01T12:00:00'), '+01:00');
    assert.equal(zoneOffset('Asia/Kolkata', '2024-01-01T12:00:00'), '+05:30');
    assert.equal(zoneOffset('UTC', '2024-01-01T12:00:00'), '+00:00');
  });
});

describe('deterministic ids and the bundle', () => {
  it('the same parts give the same id; different parts or types differ; ids are valid FHIR ids', () => {
    const a = deterministicId('Patient', 'urn:oid:1.2', '123');
    assert.equal(a, deterministicId('Patient', 'urn:oid:1.2', '123'));
    assert.notEqual(a, deterministicId('Patient', 'urn:oid:1.2', '124'));
    assert.notEqual(a, deterministicId('Encounter', 'urn:oid:1.2', '123'));
    // Joining must not make ('a|b','c') equal ('a','b|c').
    assert.notEqual(deterministicId('X', 'a|b', 'c'), deterministicId('X', 'a', 'b|c'));
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('ids are stable across releases: pinned values (stored resources are addressed by them)', () => {
    // Computed with the first implementation (a Hash object fed the type, then '\0' and each
    // part): a change of how the digest is taken must not change any id. Non-ASCII, an astral
    // character and lone surrogates at part boundaries included.
    assert.equal(deterministicId('Patient', 'urn:oid:1.2', '123'), '63db4f99-0aac-8872-aa79-e35b1c9cc102');
    assert.equal(deterministicId('Observation', 'ORD1|X', undefined, '', 'Zoë \u{1F600}', 'a\uD800', '\uDC00b'), '4b5c7372-6509-85ca-a247-9e219ecc017b');
    assert.equal(deterministicId('Encounter'), '71fd53f4-a18f-8d01-9853-7fd2181b7cd0');
    // Types whose ids are cached (recurring across messages): the first call hashes, the second hits.
    for (let i = 0; i < 2; i++) {
      assert.equal(deterministicId('Practitioner', 'http://hl7.org/fhir/sid/us-npi', '1497759866'), '5a8e3633-5972-8eb0-bd52-8697b7be18f7');
      assert.equal(deterministicId('Location', 'si:NORTHWIND_GEN', 'wa:4WEST'), 'c52c119e-8a58-8e22-9cd7-86571a443f30');
    }
  });

  it('add() merges a resource added twice and entries() are PUTs by id', () => {
    const ctx = msg('20240305103000');
    ctx.add({ resourceType: 'Practitioner', id: 'p1', identifier: [{ value: '1' }] });
    const ref = ctx.add({ resourceType: 'Practitioner', id: 'p1', identifier: [{ value: '1' }, { value: '2' }], name: [{ family: 'X' }] });
    assert.equal(ref.reference, 'Practitioner/p1');
    const entries = ctx.entries();
    assert.equal(entries.length, 1);
    assert.deepEqual(entries[0]!.request, { method: 'PUT', url: 'Practitioner/p1' });
    assert.equal(entries[0]!.fullUrl, 'urn:uuid:p1');
    const p = entries[0]!.resource as { identifier: unknown[]; name: unknown[] };
    assert.equal(p.identifier.length, 2);
    assert.equal(p.name.length, 1);
  });

  it('each entry keeps its own Type/id (request url, fullUrl, Provenance-style references), also when two types share an id', () => {
    const ctx = msg('20240305103000');
    const refs = [
      ctx.add({ resourceType: 'Practitioner', id: 'p1' }),
      ctx.add({ resourceType: 'Organization', id: 'p1' }),
      ctx.add({ resourceType: 'Practitioner', id: 'p1', name: [{ family: 'X' }] }),
      ctx.add({ resourceType: 'Organization', id: 'p1', name: 'O' }),
      ctx.add({ resourceType: 'Location', id: 'l1' }),
    ].map((r) => r.reference);
    assert.deepEqual(refs, ['Practitioner/p1', 'Organization/p1', 'Practitioner/p1', 'Organization/p1', 'Location/l1']);
    const entries = ctx.entries();
    assert.deepEqual(
      entries.map((e) => [e.request?.url, e.fullUrl, e.resource?.resourceType]),
      [
        ['Practitioner/p1', 'urn:uuid:p1', 'Practitioner'],
        ['Organization/p1', 'urn:uuid:p1', 'Organization'],
        ['Location/l1', 'urn:uuid:l1', 'Location'],
      ],
    );
    assert.deepEqual(ctx.addedKeys, ['Practitioner/p1', 'Organization/p1', 'Location/l1']);
    assert.equal(ctx.get({ reference: 'Organization/p1' })?.resourceType, 'Organization');
  });
});

describe('SegmentReader.targetsOf (the report lists)', () => {
  it('one-target and no-target lists are shared frozen arrays; several targets are listed in order', () => {
    const m = parseMessage('MSH|^~\\&|APP|FAC|||20240101||ADT^A01|C1|P|2.5.1\rPID|1||123^^^HOSP^MR||DOE^JANE|||F\rPID|1||456^^^HOSP^MR||ROE^JOHN|||M');
    const ctx = new MappingContext(m, undefined);
    const [a, b] = [ctx.readers[1]!, ctx.readers[2]!];
    a.text(5, 'Patient.name');
    b.text(5, 'Patient.name');
    a.text(8);
    b.text(8, 'Patient.gender');
    b.text(8, 'Patient.extension');
    assert.deepEqual(a.targetsOf(5), ['Patient.name']);
    // The report holds one per mapped field: the same list, not a copy each time.
    assert.equal(a.targetsOf(5), b.targetsOf(5));
    assert.ok(Object.isFrozen(a.targetsOf(5)));
    assert.deepEqual(a.targetsOf(8), []);
    assert.ok(Object.isFrozen(a.targetsOf(8)));
    assert.deepEqual(b.targetsOf(8), ['Patient.gender', 'Patient.extension']);
    assert.equal(a.targetsOf(3), undefined);
  });
});
