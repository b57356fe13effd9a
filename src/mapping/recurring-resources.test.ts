import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Location, Practitioner, Reference } from '@medplum/fhirtypes';
import { deepFreeze, isDeeplyFrozen } from '../core/deep-freeze.ts';
import { validateBundle } from '../fhir/fhir-validator.ts';
import { parseBatch, parseMessage } from '../hl7v2/index.ts';
import { corpusCases, corpusRoot } from './conformance/corpus-sources.ts';
import { MappingContext } from './mapping-context.ts';
import { DEFAULT_TENANT, type TenantMappingConfig } from './tenant-config.ts';
import { convertV2ToFhir, mapperFor } from './v2-to-fhir.ts';

// MappingContext.recurring: the resources a feed names in message after message (clinicians,
// organizations, locations) are made once per tenant configuration and shared, deeply frozen,
// by the bundles of the next messages. These tests hold it to its promise: no bundle differs from
// what a cold conversion gives, and no message sees another's changes.

/** A tenant configuration of its own (the shared results are kept per configuration object). */
const freshTenant = (): TenantMappingConfig => ({ ...DEFAULT_TENANT });
const NOW = (): Date => new Date('2024-03-12T15:00:00Z');

const context = (tenant: TenantMappingConfig, control = 'C1'): MappingContext => new MappingContext(parseMessage(`MSH|^~\\&|APP|FAC|||20240312080000||ADT^A01|${control}|P|2.5.1\rPID|1||123^^^HOSP^MR`), undefined, { tenant });

const practitioner = (id: string, extra: Partial<Practitioner> = {}): Practitioner & { id: string } => ({ resourceType: 'Practitioner', id, name: [{ family: 'Okafor', given: ['Ngozi'] }], ...extra });

describe('MappingContext.recurring', () => {
  it('runs make once per tenant; later messages get its frozen resources, warnings and result', () => {
    const tenant = freshTenant();
    let calls = 0;
    const make = (ctx: MappingContext) => (): Reference => {
      calls++;
      ctx.warn('XCN: no assigning authority');
      return { ...ctx.add(practitioner('p1')), display: 'Ngozi Okafor' };
    };
    const first = context(tenant, 'C1');
    const ref1 = first.recurring('k', make(first));
    assert.equal(first.recurring('k', make(first)), ref1, 'memoized within the message');
    const second = context(tenant, 'C2');
    const ref2 = second.recurring('k', make(second));
    assert.equal(calls, 1);
    assert.deepEqual(ref2, ref1);
    assert.deepEqual(second.warnings, ['XCN: no assigning authority']);
    const [shared] = second.resources();
    assert.ok(shared !== undefined && isDeeplyFrozen(shared));
    assert.deepEqual(shared, practitioner('p1'));
    // The first message keeps its own objects (made before anything was frozen).
    assert.equal(isDeeplyFrozen(first.resources()[0] as object), false);
    // Another tenant configuration makes its own.
    const other = context(freshTenant());
    other.recurring('k', make(other));
    assert.equal(calls, 2);
  });

  it('does not keep a make that got or merged into a resource added before it', () => {
    const tenant = freshTenant();
    let calls = 0;
    const run = (control: string, touch: 'get' | 'merge'): void => {
      const ctx = context(tenant, control);
      const earlier = ctx.add(practitioner('p0'));
      ctx.recurring(touch, () => {
        calls++;
        if (touch === 'get') ctx.get<Practitioner & { id: string }>(earlier);
        else ctx.add(practitioner('p0', { gender: 'female' }));
        return ctx.add(practitioner('p2'));
      });
    };
    run('C1', 'get');
    run('C2', 'get');
    run('C3', 'merge');
    run('C4', 'merge');
    assert.equal(calls, 4);
  });

  it('keeps a make that changes a resource it added itself (through get), with the change', () => {
    const tenant = freshTenant();
    let calls = 0;
    const make = (ctx: MappingContext) => (): Reference => {
      calls++;
      const ref = ctx.add(practitioner('p4'));
      const mine = ctx.get<Practitioner & { id: string }>(ref);
      if (mine !== undefined) mine.gender = 'female';
      return ref;
    };
    const first = context(tenant, 'C1');
    first.add(practitioner('p0'));
    first.recurring('k', make(first));
    const second = context(tenant, 'C2');
    second.recurring('k', make(second));
    assert.equal(calls, 1);
    assert.equal((second.resources()[0] as Practitioner).gender, 'female');
  });

  it('copies a shared resource before a message changes it (get, merge), so the next message gets it unchanged', () => {
    const tenant = freshTenant();
    const make = (ctx: MappingContext) => (): Reference => ctx.add(practitioner('p3'));
    const warm = context(tenant, 'C1');
    warm.recurring('k', make(warm));

    const viaGet = context(tenant, 'C2');
    const ref = viaGet.recurring('k', make(viaGet));
    const mine = viaGet.get<Practitioner & { id: string }>(ref);
    assert.ok(mine !== undefined && !Object.isFrozen(mine));
    mine.gender = 'female';
    assert.equal((viaGet.entries()[0]?.resource as Practitioner).gender, 'female');
    assert.equal(viaGet.get<Practitioner & { id: string }>(ref), mine, 'the copy is the bundle resource from then on');

    const viaMerge = context(tenant, 'C3');
    viaMerge.recurring('k', make(viaMerge));
    viaMerge.add(practitioner('p3', { identifier: [{ system: 'urn:x', value: '9' }] }));
    assert.deepEqual((viaMerge.entries()[0]?.resource as Practitioner).identifier, [{ system: 'urn:x', value: '9' }]);

    const next = context(tenant, 'C4');
    next.recurring('k', make(next));
    const pristine = next.entries()[0]?.resource as Practitioner;
    assert.ok(isDeeplyFrozen(pristine));
    assert.deepEqual(pristine, practitioner('p3'));
  });

  it('a make that throws keeps nothing', () => {
    const tenant = freshTenant();
    const ctx = context(tenant);
    assert.throws(() => ctx.recurring('k', () => {
      ctx.warn('half way');
      throw new Error('bad value');
    }), /bad value/);
    let calls = 0;
    const again = context(tenant, 'C2');
    again.recurring('k', () => {
      calls++;
      return undefined;
    });
    assert.equal(calls, 1);
    assert.deepEqual(again.warnings, []);
  });
});

// A location, a clinician and a sending facility that recur; PV1-40 (bed status) changes the bed's
// Location in the message that sends it, and only there.
const adt = (control: string, bedStatus: string): string =>
  [
    `MSH|^~\\&|REG|NORTHWIND|ENG|NORTHWIND|20240312081530-0500||ADT^A01^ADT_A01|${control}|P|2.5.1`,
    'EVN|A01|20240312081500-0500',
    `PID|1||MRN${control}^^^NORTHWIND^MR||TESTPERSON^Alex||19780214|F`,
    `PV1|1|I|4WEST^412^B^NORTHWIND||||1497759866^Adebayo^Tunde^^^^MD^^^^^^NPI|||MED|||||||||V${control}^^^NORTHWIND^VN${'|'.repeat(21)}${bedStatus}`,
    // The payor (IN1-3..7) recurs; its address changes in A3 only.
    `IN1|1|PPO^Blue Cross PPO^L|60054|BLUE CROSS|${control === 'A3' ? 'PO Box 1^^Peoria^IL' : 'PO Box 805107^^Chicago^IL^60680'}||^WPN^PH^^1^800^5550100|GRP-1`,
  ].join('\r');

describe('recurring resources in converted bundles', () => {
  it('a bundle made with shared resources is the bundle a cold conversion makes', () => {
    const tenant = freshTenant();
    for (const [control, bed] of [['A1', 'O'], ['A2', ''], ['A3', 'C'], ['A4', '']] as const) {
      const warm = convertV2ToFhir(parseMessage(adt(control, bed)), { tenant, now: NOW }).bundle;
      const cold = convertV2ToFhir(parseMessage(adt(control, bed)), { tenant: freshTenant(), now: NOW }).bundle;
      assert.deepEqual(warm, cold, control);
      const bedLocation = warm.entry?.map((e) => e.resource).find((r): r is Location => r?.resourceType === 'Location' && r.physicalType?.coding?.[0]?.code === 'bd');
      assert.equal(bedLocation?.operationalStatus?.code, bed === '' ? undefined : bed, `${control}: the bed status is this message's own`);
      assert.deepEqual(validateBundle(warm).issues, []);
    }
    // And the shared ones are in the later bundles, frozen.
    const later = convertV2ToFhir(parseMessage(adt('A5', '')), { tenant, now: NOW }).bundle;
    const frozen = (later.entry ?? []).filter((e) => e.resource !== undefined && isDeeplyFrozen(e.resource)).map((e) => e.resource?.resourceType);
    assert.deepEqual([...new Set(frozen)].sort(), ['Location', 'Organization', 'Practitioner']);
  });

  /** Each message converted with `tenant` (kept across them) gives the bundle a cold conversion gives (or the same error). */
  const warmEqualsCold = (base: Partial<TenantMappingConfig>, texts: readonly string[]): void => {
    const tenant: TenantMappingConfig = { ...DEFAULT_TENANT, ...base };
    const outcome = (text: string, t: TenantMappingConfig): string => {
      try {
        return JSON.stringify(convertV2ToFhir(parseMessage(text), { tenant: t, now: NOW }).bundle);
      } catch (error) {
        return `refused: ${error instanceof Error ? error.message : String(error)}`;
      }
    };
    for (const text of texts) assert.equal(outcome(text, tenant), outcome(text, { ...DEFAULT_TENANT, ...base }), text.split('\r')[0]);
  };

  it('a tenant Z-segment rule extends a shared resource in its own message only', () => {
    const withZpv = (control: string, value: string): string => `${adt(control, '')}\rZPV|${value}`;
    for (const resource of ['Organization', 'Location', 'Practitioner']) {
      const zSegments = new Map([['ZPV', { segment: 'ZPV', extensions: [{ field: 1, resource, url: 'http://example.org/ext', type: 'string' as const }] }]]);
      warmEqualsCold({ zSegments }, [withZpv('Z1', 'first'), withZpv('Z2', 'second'), adt('Z3', ''), withZpv('Z4', 'fourth')]);
    }
  });

  it('the same raw text under other delimiters is another value (the truncation character of v2.7)', () => {
    const message = (control: string, msh2: string, version: string): string =>
      [`MSH|${msh2}|REG|NORTHWIND|ENG|NORTHWIND|20240312081530-0500||ADT^A01^ADT_A01|${control}|P|${version}`, `PID|1||MRN${control}^^^NORTHWIND^MR||TESTPERSON^Alex`, 'PV1|1|I|4WEST^412^B\\P\\1^NORTHWIND|||||||||||||||||||||||||||||||||||||||||||||\\P\\'].join('\r');
    warmEqualsCold({}, [message('T1', '^~\\&#', '2.7'), message('T2', '^~\\&', '2.5.1'), message('T3', '^~\\&#', '2.7')]);
  });

  it('decoded values with any character (an escaped NUL) do not make two clinicians one key', () => {
    const message = (control: string, xcn: string): string => [`MSH|^~\\&|REG|NORTHWIND|ENG|NORTHWIND|20240312081530-0500||ADT^A01^ADT_A01|${control}|P|2.5.1`, `PID|1||M${control}^^^NORTHWIND^MR||DOE^J`, `PV1|1|I|||||${xcn}`].join('\r');
    warmEqualsCold({}, [message('N1', '1497^A\\X00\\B^^^^^^^NPI'), message('N2', '1497^A^B\\X00\\^^^^^^NPI'), message('N3', '1497^A^B^^^^^^NPI')]);
  });

  it('the validator does not let a frozen invalid resource through, however often it is validated', () => {
    const tenant = freshTenant();
    convertV2ToFhir(parseMessage(adt('B1', '')), { tenant, now: NOW });
    const bundle = convertV2ToFhir(parseMessage(adt('B2', '')), { tenant, now: NOW }).bundle;
    assert.deepEqual(validateBundle(bundle).issues, []);
    assert.deepEqual(validateBundle(bundle).issues, []);
    // A bundle entry replaced by a frozen resource that is not valid is reported at its place, each time.
    const bad = structuredClone(bundle);
    const at = bad.entry?.findIndex((e) => e.resource?.resourceType === 'Location') ?? -1;
    assert.ok(at >= 0);
    const entry = bad.entry?.[at];
    assert.ok(entry !== undefined);
    entry.resource = deepFreeze({ ...(entry.resource as Location), status: 'open-ish' }) as unknown as Location;
    for (let i = 0; i < 2; i++) assert.ok(validateBundle(bad).issues.some((issue) => issue.expression.startsWith(`Bundle.entry[${at}].resource`)));
  });

  it('over the corpus: every message converts warm (after all the others) to its cold bundle and report', (t) => {
    const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const root = corpusRoot(repoRoot);
    if (!existsSync(path.join(root, 'hl7v2'))) return t.skip(`corpus not found at ${root} (set SWITCHBOARD_CORPUS)`);
    const messages = corpusCases(root).flatMap((c) => {
      try {
        return [...parseBatch(readFileSync(c.messageFile)).messages].filter((m) => mapperFor(m) !== undefined);
      } catch {
        return [];
      }
    });
    const tenant = freshTenant();
    const convert = (m: (typeof messages)[number], tenantConfig: TenantMappingConfig): string | undefined => {
      try {
        // The bundle and the mapping report (its fields are read in every message, shared or not).
        return JSON.stringify(convertV2ToFhir(m, { tenant: tenantConfig, now: NOW }));
      } catch {
        return undefined;
      }
    };
    // The first pass (last message first) fills the shared results; the second converts each message
    // with everything kept, from the messages after it as well as before.
    for (const m of [...messages].reverse()) convert(m, tenant);
    let compared = 0;
    let shared = 0;
    for (const m of messages) {
      const warm = convert(m, tenant);
      const cold = convert(m, freshTenant());
      // A message the mapper refuses is refused warm too (a located error either way).
      if (warm === undefined && cold === undefined) continue;
      assert.equal(warm, cold, `${m.messageCode}^${m.triggerEvent} ${m.controlId}`);
      compared++;
      const bundle = convertV2ToFhir(m, { tenant, now: NOW }).bundle;
      if ((bundle.entry ?? []).some((e) => e.resource !== undefined && isDeeplyFrozen(e.resource))) shared++;
    }
    t.diagnostic(`${compared} messages compared, ${shared} with shared resources`);
    assert.ok(compared > 100 && shared > 50, `${compared} compared, ${shared} with shared resources`);
  });
});
