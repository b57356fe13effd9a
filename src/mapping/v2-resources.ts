import type { Location, Organization, Practitioner, Reference } from '@medplum/fhirtypes';
import { decodeEscapes, type Hl7Encoding, type Hl7Hd, type Hl7Xcn } from '../hl7v2/index.ts';
import type { MappingContext } from './mapping-context.ts';
import { cxToIdentifier, identifierSystem, xcnToHumanName } from './v2-datatypes.ts';

/**
 * Datatypes that become resources of their own: XCN -> Practitioner, XON/HD -> Organization,
 * PL -> Location (HL7 V2-to-FHIR IG datatype maps XCN[Practitioner], XON[Organization],
 * PL[Location], HD[Organization]). Ids come from the identifier when there is one (the same
 * clinician in two messages is one resource), else from the name within this message.
 */

/** XCN -> Practitioner, added to the bundle; returns its reference (with a display). */
export function practitionerFromXcn(ctx: MappingContext, xcn: Hl7Xcn | undefined): Reference<Practitioner> | undefined {
  if (xcn === undefined) return undefined;
  return ctx.memoFor(xcn, () => practitionerByContent(ctx, xcn));
}

function practitionerByContent(ctx: MappingContext, xcn: Hl7Xcn): Reference<Practitioner> | undefined {
  const aa = xcn.assigningAuthority;
  const key = partsKey('XCN', [xcn.id, xcn.family, xcn.given, xcn.middle, xcn.suffix, xcn.prefix, xcn.degree, xcn.nameTypeCode, xcn.identifierTypeCode, aa?.namespaceId, aa?.universalId, aa?.universalIdType]);
  // With an identifier, the same clinician in every message of a feed is the same Practitioner; a
  // name alone gives an id within this message (makePractitioner), so that one is not shared.
  return xcn.id !== undefined ? ctx.recurring(key, () => makePractitioner(ctx, xcn)) : ctx.memo(key, () => makePractitioner(ctx, xcn));
}

function makePractitioner(ctx: MappingContext, xcn: Hl7Xcn): Reference<Practitioner> | undefined {
  const name = xcnToHumanName(xcn);
  if (xcn.id === undefined && name === undefined) return undefined;
  // The XCN's identifier part read as a CX (cxToIdentifier reads only these three).
  const identifier = xcn.id === undefined ? undefined : cxToIdentifier(ctx, xcn);
  const id = identifier !== undefined ? ctx.id('Practitioner', identifier.system, identifier.value) : ctx.id('Practitioner', ctx.messageKey, JSON.stringify(name));
  const p: Practitioner & { id: string } = { resourceType: 'Practitioner', id };
  if (identifier !== undefined) p.identifier = [identifier];
  if (name !== undefined) p.name = [name];
  const ref = ctx.add(p);
  // The given names then the family name, space-separated (as [given, family] joined, absent parts left out).
  const given = name?.given?.join(' ');
  const family = name?.family;
  const display = given === undefined ? (family ?? '') : family === undefined ? given : `${given} ${family}`;
  return display === '' ? ref : { reference: ref.reference as string, display };
}

/** HD (e.g. MSH-4, a sending facility) -> Organization. */
export function organizationFromHd(ctx: MappingContext, hd: Hl7Hd | undefined): Reference<Organization> | undefined {
  if (hd === undefined || (hd.namespaceId === undefined && hd.universalId === undefined)) return undefined;
  // The sending and receiving facility are often the same: built once per message (adding it
  // again would only merge an identical Organization into itself).
  return ctx.recurring(partsKey('HD', [hd.namespaceId, hd.universalId, hd.universalIdType]), () => organizationByContent(ctx, hd));
}

function organizationByContent(ctx: MappingContext, hd: Hl7Hd): Reference<Organization> {
  const system = hd.universalId !== undefined ? identifierSystem(ctx, hd.universalIdType !== undefined ? { universalId: hd.universalId, universalIdType: hd.universalIdType } : { universalId: hd.universalId }) : undefined;
  const value = hd.universalId ?? hd.namespaceId;
  const org: Organization & { id: string } = { resourceType: 'Organization', id: ctx.id('Organization', system, value) };
  if (hd.universalId !== undefined) org.identifier = [system !== undefined ? { value: hd.universalId, system } : { value: hd.universalId }];
  // A namespace alone is the sender's local name for the facility: an identifier in the tenant's
  // local system, so that it has a system as US Core Organization requires.
  else if (hd.namespaceId !== undefined) org.identifier = [{ system: `${ctx.tenant.localSystemBase}:hd`, value: hd.namespaceId }];
  if (hd.namespaceId !== undefined) org.name = hd.namespaceId;
  const ref = ctx.add(org);
  return org.name !== undefined ? { reference: ref.reference as string, display: org.name } : ref;
}

/** XON (one repetition, raw ER7) -> Organization. */
export function organizationFromXon(ctx: MappingContext, raw: string | undefined, enc: Hl7Encoding): Reference<Organization> | undefined {
  if (raw === undefined || raw === '') return undefined;
  return ctx.recurring(`XON\u0000${encodingKey(enc)}${raw}`, () => organizationByXon(ctx, raw, enc));
}

function organizationByXon(ctx: MappingContext, raw: string, enc: Hl7Encoding): Reference<Organization> | undefined {
  const comps = raw.split(enc.component).map((c) => (c === '' ? undefined : c));
  const name = comps[0] !== undefined ? decodeEscapes(comps[0], enc) : undefined;
  // XON-10 (v2.5+) is the identifier; XON-3 the older numeric one.
  const idValue = comps[9] ?? comps[2];
  const aa = comps[5]?.split(enc.subcomponent);
  const hd: Hl7Hd | undefined = aa === undefined ? undefined : { ...(aa[0] ? { namespaceId: aa[0] } : {}), ...(aa[1] ? { universalId: aa[1] } : {}), ...(aa[2] ? { universalIdType: aa[2] } : {}) };
  if (name === undefined && idValue === undefined) return undefined;
  const identifier = idValue !== undefined ? cxToIdentifier(ctx, { id: decodeEscapes(idValue, enc), ...(hd !== undefined ? { assigningAuthority: hd } : {}), ...(comps[6] !== undefined ? { identifierTypeCode: comps[6] } : {}) }) : undefined;
  const org: Organization & { id: string } = {
    resourceType: 'Organization',
    id: identifier !== undefined ? ctx.id('Organization', identifier.system, identifier.value) : ctx.id('Organization', 'name', name),
  };
  if (identifier !== undefined) org.identifier = [identifier];
  if (name !== undefined) org.name = name;
  const ref = ctx.add(org);
  return name !== undefined ? { reference: ref.reference as string, display: name } : ref;
}

/**
 * PL (raw ER7 of one repetition) -> Location. The most specific level present (bed, room, point of
 * care) becomes the Location, `partOf` the next one up, up to the facility (IG PL[Location]).
 */
export function locationFromPl(ctx: MappingContext, raw: string | undefined, enc: Hl7Encoding): Reference<Location> | undefined {
  if (raw === undefined || raw === '') return undefined;
  return ctx.recurring(`PL\u0000${encodingKey(enc)}${raw}`, () => locationByPl(ctx, raw, enc));
}

function locationByPl(ctx: MappingContext, raw: string, enc: Hl7Encoding): Reference<Location> | undefined {
  const comps = raw.split(enc.component).map((c) => (c === '' ? undefined : decodeEscapes(c.split(enc.subcomponent)[0] ?? '', enc) || undefined));
  const [poc, room, bed, facility] = comps;
  const description = comps[8];
  const levels: Array<{ name: string; physical: string; display: string }> = [];
  if (facility !== undefined) levels.push({ name: facility, physical: 'si', display: 'Site' });
  if (comps[6] !== undefined) levels.push({ name: comps[6], physical: 'bu', display: 'Building' });
  if (comps[7] !== undefined) levels.push({ name: comps[7], physical: 'lvl', display: 'Level' });
  if (poc !== undefined) levels.push({ name: poc, physical: 'wa', display: 'Ward' });
  if (room !== undefined) levels.push({ name: room, physical: 'ro', display: 'Room' });
  if (bed !== undefined) levels.push({ name: bed, physical: 'bd', display: 'Bed' });
  if (levels.length === 0) return undefined;
  let parent: Reference<Location> | undefined;
  const path: string[] = [];
  let last: Reference<Location> | undefined;
  for (const level of levels) {
    path.push(`${level.physical}:${level.name}`);
    const loc: Location & { id: string } = {
      resourceType: 'Location',
      id: ctx.id('Location', ...path),
      name: level.name,
      mode: 'instance',
      physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: level.physical, display: level.display }] },
    };
    if (parent !== undefined) loc.partOf = parent;
    if (level === levels[levels.length - 1] && description !== undefined) loc.description = description;
    last = ctx.add(loc);
    parent = last;
  }
  return last;
}

/**
 * The delimiters a raw value is split and unescaped with, as a key prefix: the same text under other
 * delimiters is another value (`\P\` decodes to the truncation character only where MSH-2 has one).
 * One string per encoding object (a message's), made once.
 */
export function encodingKey(enc: Hl7Encoding): string {
  let key = ENCODING_KEYS.get(enc);
  if (key === undefined) ENCODING_KEYS.set(enc, (key = `${partsKey('ENC', [enc.field, enc.component, enc.repetition, enc.escape, enc.subcomponent, enc.truncation])}\u0000`));
  return key;
}

/**
 * A cache key of decoded parts, each preceded by its length: decoded values can hold any character
 * (`\X00\` is a NUL), so a separator alone would let two different part lists give one key.
 */
export function partsKey(kind: string, parts: ReadonlyArray<string | undefined>): string {
  let key = kind;
  for (const p of parts) key += p === undefined ? '|-' : `|${p.length}:${p}`;
  return key;
}

const ENCODING_KEYS = new WeakMap<Hl7Encoding, string>();
