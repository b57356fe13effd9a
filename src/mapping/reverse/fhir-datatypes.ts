import type { Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier, Period, Quantity } from '@medplum/fhirtypes';
import { encodeEscapes, type Hl7Encoding } from '../../hl7v2/index.ts';
import { systemNameFor } from '../code-systems.ts';
import { DEFAULT_TENANT, type TenantMappingConfig } from '../tenant-config.ts';
import { inputError } from './reverse-context.ts';

/**
 * FHIR R4 datatypes -> HL7 v2 datatypes, the reverse of v2-datatypes.ts (HL7 V2-to-FHIR IG datatype
 * maps CX[Identifier], XPN[HumanName], XAD[Address], XTN[ContactPoint], CWE[CodeableConcept],
 * DTM[dateTime], NM/CQ[Quantity], read right to left). Each writer returns raw ER7 text for one
 * repetition, every component already escaped, trailing empty components dropped; undefined when
 * there is nothing to write.
 */

/** A component that is already ER7 (e.g. an HD spread over subcomponents), not to be escaped again. */
export interface RawPart {
  readonly raw: string;
}
export type Part = string | RawPart | undefined;

/** Joins parts with a separator, escaping plain ones; trailing empty parts are dropped. */
export function joinParts(enc: Hl7Encoding, sep: string, parts: readonly Part[]): string | undefined {
  const out = parts.map((p) => (p === undefined ? '' : typeof p === 'string' ? encodeEscapes(p, enc) : p.raw));
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.length === 0 ? undefined : out.join(sep);
}

/** A composite (components joined by `^`). */
export function composite(enc: Hl7Encoding, parts: readonly Part[]): string | undefined {
  return joinParts(enc, enc.component, parts);
}

/** A raw part, or undefined for undefined. */
export function raw(text: string | undefined): RawPart | undefined {
  return text === undefined ? undefined : { raw: text };
}

// ---- date and time -------------------------------------------------------------------------------

const DATE_TIME_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * FHIR date / dateTime / instant -> DTM (HL7 v2.5.1 ch.2A 2.A.22), keeping the precision and the
 * offset as given: `2024-03-05T10:30:00.25-05:00` -> `20240305103000.25-0500`, `Z` -> `+0000`,
 * `2024-03` -> `202403`. DTM holds at most 4 fractional digits; further ones are cut.
 */
export function toDtm(value: string | undefined, element: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  const m = DATE_TIME_RE.exec(value.trim());
  if (m === null) throw inputError(`${element} is not a FHIR date/dateTime/instant`);
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  let out = `${y as string}${mo ?? ''}${d ?? ''}${h ?? ''}${mi ?? ''}${s ?? ''}`;
  if (frac !== undefined) out += `.${frac.slice(0, 4)}`;
  if (tz !== undefined) out += tz === 'Z' ? '+0000' : tz.replace(':', '');
  return out;
}

/** FHIR time (hh:mm:ss[.fff]) -> TM (ch.2A 2.A.75): `10:30:00` -> `103000`. */
export function toTm(value: string | undefined, element: string): string | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$/.exec(value.trim());
  if (m === null) throw inputError(`${element} is not a FHIR time`);
  return `${m[1] as string}${m[2] as string}${m[3] ?? ''}${m[4] !== undefined ? `.${m[4].slice(0, 4)}` : ''}`;
}

/** Period -> DR (start^end). */
export function periodToDr(enc: Hl7Encoding, p: Period | undefined, element: string): string | undefined {
  if (p === undefined) return undefined;
  return composite(enc, [toDtm(p.start, `${element}.start`), toDtm(p.end, `${element}.end`)]);
}

// ---- identifiers ---------------------------------------------------------------------------------

/** Identifier systems every v2 receiver knows by name and OID (HL7 table 0363 / HL7 OID registry). */
const WELL_KNOWN_AUTHORITIES: Readonly<Record<string, readonly [string, string]>> = {
  'http://hl7.org/fhir/sid/us-ssn': ['SSA', '2.16.840.1.113883.4.1'],
  'http://hl7.org/fhir/sid/us-npi': ['NPI', '2.16.840.1.113883.4.6'],
};

/**
 * The assigning authority (HD, raw with `&` between its parts) for an identifier system: the
 * reverse of identifierSystem() in v2-datatypes.ts. A tenant's configured URI gives back its
 * namespace (or OID); `urn:oid:x` gives HD-2 x with HD-3 ISO; a URI under the tenant's local base
 * gives back the namespace it was made from; `urn:uuid:x` UUID; any other URI is sent as HD-2 with
 * HD-3 URI. The assigner's display, when it differs, is HD-1.
 */
export function assigningAuthority(enc: Hl7Encoding, system: string | undefined, assigner: string | undefined, tenant: TenantMappingConfig = DEFAULT_TENANT): string | undefined {
  const hd = (ns: string | undefined, uid?: string, type?: string): string | undefined => joinParts(enc, enc.subcomponent, [ns, uid, type]);
  if (system === undefined || system === '') return hd(assigner);
  for (const [key, uri] of Object.entries(tenant.identifierSystems)) {
    if (uri !== system) continue;
    return /^\d+(\.\d+)+$/.test(key) ? hd(assigner !== key ? assigner : undefined, key, 'ISO') : hd(key);
  }
  const local = `${tenant.localSystemBase}:id:`;
  if (system.startsWith(local)) return hd(decodeURIComponent(system.slice(local.length)));
  const known = WELL_KNOWN_AUTHORITIES[system];
  if (known !== undefined) return hd(assigner ?? known[0], known[1], 'ISO');
  const other = (uid: string, type: string): string | undefined => hd(assigner !== undefined && assigner !== uid ? assigner : undefined, uid, type);
  if (system.startsWith('urn:oid:')) return other(system.slice(8), 'ISO');
  if (system.startsWith('urn:uuid:')) return other(system.slice(9), 'UUID');
  return other(system, 'URI');
}

/** The v2 table 0203 identifier type code of an Identifier (its type coding), if any. */
export function identifierTypeCode(id: Identifier): string | undefined {
  const codings = id.type?.coding ?? [];
  // A coding of another system (or a text-only type) is not a table 0203 code.
  return (codings.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0203') ?? codings.find((c) => c.system === undefined))?.code;
}

/** Identifier -> CX (IG CX[Identifier] reversed): value, assigning authority from the system, type. */
export function identifierToCx(enc: Hl7Encoding, id: Identifier | undefined, tenant?: TenantMappingConfig): string | undefined {
  if (id?.value === undefined || id.value === '') return undefined;
  const aa = assigningAuthority(enc, id.system, id.assigner?.display, tenant);
  return composite(enc, [id.value, undefined, undefined, raw(aa), identifierTypeCode(id), undefined, toDtm(id.period?.start, 'Identifier.period.start')?.slice(0, 8), toDtm(id.period?.end, 'Identifier.period.end')?.slice(0, 8)]);
}

/** Identifier -> EI (entity identifier: value^namespace^universal id^type), e.g. OBR-3, TXA-12. */
export function identifierToEi(enc: Hl7Encoding, id: Identifier | undefined, tenant?: TenantMappingConfig): string | undefined {
  if (id?.value === undefined || id.value === '') return undefined;
  const aa = assigningAuthority(enc, id.system, id.assigner?.display, tenant);
  // The HD parts become EI-2..4: the same text with components instead of subcomponents.
  const parts = aa === undefined ? [] : aa.split(enc.subcomponent).map((p) => raw(p === '' ? undefined : p));
  return composite(enc, [id.value, ...parts]);
}

// ---- names, addresses, telecom ---------------------------------------------------------------------

/** name-use -> HL7 table 0200 (IG concept map NameType, read in reverse; `usual` is D, "customary"). */
const NAME_TYPE: Readonly<Record<string, string>> = { official: 'L', usual: 'D', maiden: 'M', nickname: 'N', anonymous: 'S', temp: 'TEMP', old: 'BAD' };

/**
 * HumanName -> XPN (IG XPN[HumanName] reversed): family, first given, further given names (space
 * separated, as the forward map splits them), first suffix (XPN-4), first prefix, further suffixes
 * as the degree (XPN-6), name type from use. A name with only text sends the text as the family name.
 */
export function humanNameToXpn(enc: Hl7Encoding, name: HumanName | undefined): string | undefined {
  if (name === undefined) return undefined;
  const given = name.given ?? [];
  const suffix = name.suffix ?? [];
  const family = name.family ?? (given.length === 0 ? name.text : undefined);
  return composite(enc, [
    family,
    given[0],
    given.length > 1 ? given.slice(1).join(' ') : undefined,
    suffix[0],
    name.prefix?.[0],
    suffix.length > 1 ? suffix.slice(1).join(' ') : undefined,
    name.use !== undefined ? NAME_TYPE[name.use] : undefined,
  ]);
}

/** HumanName -> the name part of an XCN (components 2-7) after an id (XCN-1). */
export function practitionerXcn(enc: Hl7Encoding, id: Identifier | undefined, name: HumanName | undefined, tenant?: TenantMappingConfig): string | undefined {
  const xpn = humanNameToXpn(enc, name);
  const nameParts = xpn === undefined ? [] : xpn.split(enc.component);
  // XCN: 1 id, 2 family, 3 given, 4 middle, 5 suffix, 6 prefix, 7 degree, 8 source table, 9 assigning authority, 10 name type, 13 id type.
  const aa = id !== undefined ? assigningAuthority(enc, id.system, id.assigner?.display, tenant) : undefined;
  const parts: Part[] = [id?.value, ...nameParts.slice(0, 6).map((p) => raw(p === '' ? undefined : p))];
  while (parts.length < 7) parts.push(undefined);
  parts.push(undefined, raw(aa), raw(nameParts[6]), undefined, undefined, id !== undefined ? identifierTypeCode(id) : undefined);
  return composite(enc, parts);
}

/** address-use / address-type -> HL7 table 0190 (IG concept maps AddressType[Use]/[Type] reversed). */
const ADDRESS_USE: Readonly<Record<string, string>> = { home: 'H', work: 'B', temp: 'C', old: 'BA', billing: 'BI' };

/** Address -> XAD (IG XAD[Address] reversed). Lines past the second join the second with ", ". */
export function addressToXad(enc: Hl7Encoding, a: Address | undefined): string | undefined {
  if (a === undefined) return undefined;
  const lines = a.line ?? [];
  const type = a.use !== undefined ? ADDRESS_USE[a.use] : a.type === 'postal' ? 'M' : undefined;
  return composite(enc, [lines[0] ?? (lines.length === 0 && a.city === undefined ? a.text : undefined), lines.length > 1 ? lines.slice(1).join(', ') : undefined, a.city, a.state, a.postalCode, a.country, type, undefined, a.district]);
}

/** contact-point-use -> HL7 table 0201; contact-point-system -> table 0202 (IG concept maps reversed). */
const TELECOM_USE: Readonly<Record<string, string>> = { home: 'PRN', work: 'WPN', mobile: 'PRS' };
const TELECOM_EQUIPMENT: Readonly<Record<string, string>> = { phone: 'PH', fax: 'FX', pager: 'BP', email: 'Internet', sms: 'CP', url: 'Internet' };

/** The shape xtnToContactPoint gives a structured number: `+1 (555) 5551234 ext. 12`. */
const STRUCTURED_PHONE = /^(?:\+(\d+) )?\((\d+)\) (\S+?)(?: ext\. (\d+))?$/;

/**
 * ContactPoint -> XTN (IG XTN[ContactPoint] reversed; v2.5.1 ch.2A 2.A.89). Email goes to XTN-4 with
 * use NET; a number in the structured shape the forward map writes goes back to XTN-5..8; any other
 * number to XTN-1 (kept for receivers that read only it).
 */
export function contactPointToXtn(enc: Hl7Encoding, cp: ContactPoint | undefined): string | undefined {
  if (cp?.value === undefined || cp.value === '') return undefined;
  const equipment = cp.system === 'phone' && cp.use === 'mobile' ? 'CP' : cp.system !== undefined ? TELECOM_EQUIPMENT[cp.system] : undefined;
  if (cp.system === 'email') return composite(enc, [undefined, 'NET', 'Internet', cp.value]);
  const use = cp.use !== undefined ? TELECOM_USE[cp.use] : undefined;
  const m = STRUCTURED_PHONE.exec(cp.value);
  if (m !== null) return composite(enc, [undefined, use, equipment, undefined, m[1], m[2], m[3], m[4]]);
  return composite(enc, [cp.value, use, equipment]);
}

// ---- codes ---------------------------------------------------------------------------------------

const V3_INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** Table 0396 names for URIs code-systems.ts reads but does not name back. */
const MORE_NAMES: Readonly<Record<string, string>> = {
  'urn:oid:2.16.840.1.113883.6.238': 'CDCREC',
  'http://hl7.org/fhir/sid/mvx': 'MVX',
  'http://www.nlm.nih.gov/research/umls': 'UMLS',
  'http://ncimeta.nci.nih.gov': 'NCI',
  'http://hl7.org/fhir/sid/us-npi': 'NPI',
  'http://dicom.nema.org/resources/ontology/DCM': 'DCM',
  'http://www.cms.gov/Medicare/Coding/ICD10': 'I10P',
  'urn:iso:std:iso:3166': 'ISO3166',
  'http://nucc.org/provider-taxonomy': 'NUCC',
  'urn:ietf:bcp:47': 'ISO639',
};

/**
 * The v2 coding system name (CWE-3) for a FHIR system URI: a tenant's local code system gives back
 * its name; a known URI its table 0396 name (LN, SCT, I10C...; code-systems.ts systemNameFor); a v2
 * table URI `HL7nnnn`; `urn:oid:x` the OID; a URI under the tenant's local base the name it was made
 * from. Any other URI is sent as it is (the v2 -> FHIR side reads a URI in CWE-3 back as itself).
 */
export function systemName(uri: string | undefined, tenant: TenantMappingConfig = DEFAULT_TENANT): string | undefined {
  if (uri === undefined || uri === '') return undefined;
  for (const [name, u] of Object.entries(tenant.codeSystems)) if (u === uri) return name;
  const known = systemNameFor(uri) ?? MORE_NAMES[uri];
  if (known !== undefined) return known;
  // v3 ObservationInterpretation shares its codes with HL7 table 0078 (H, L, N, A, HH, LL...).
  if (uri === V3_INTERPRETATION) return 'HL70078';
  const local = `${tenant.localSystemBase}:cs:`;
  if (uri.startsWith(local)) return decodeURIComponent(uri.slice(local.length));
  if (uri.startsWith('urn:oid:')) return uri.slice(8);
  return uri;
}

export interface CweOptions {
  readonly tenant?: TenantMappingConfig;
  /** Use only codings of this system (e.g. a table) when one is there. */
  readonly preferSystem?: string;
}

/** Codings a tenant code map added in front of the sent ones (v2 -> FHIR keeps both): not sent back. */
function sentCodings(codings: readonly Coding[], tenant: TenantMappingConfig): Coding[] {
  if (tenant.codeMaps.length === 0 || codings.length < 2) return [...codings];
  const isTarget = (c: Coding): boolean => tenant.codeMaps.some((m) => [...m.entries.values()].some((e) => e.targetSystem === c.system && e.targetCode === c.code));
  const kept = codings.filter((c) => !isTarget(c));
  return kept.length > 0 ? kept : [...codings];
}

/**
 * CodeableConcept -> CWE (IG CWE[CodeableConcept] reversed): the first two codings as the primary
 * and alternate triplets (with versions in CWE-7/8), the text as CWE-9 when it is not just the
 * first coding's display (CWE-9 exists from v2.5; earlier, text only fills CWE-2 when no display).
 */
export function codeableConceptToCwe(enc: Hl7Encoding, cc: CodeableConcept | undefined, options: CweOptions = {}): string | undefined {
  if (cc === undefined) return undefined;
  const tenant = options.tenant ?? DEFAULT_TENANT;
  let codings = sentCodings((cc.coding ?? []).filter((c) => c.code !== undefined && c.code !== ''), tenant);
  if (options.preferSystem !== undefined) {
    const preferred = codings.filter((c) => c.system === options.preferSystem);
    if (preferred.length > 0) codings = [...preferred, ...codings.filter((c) => c.system !== options.preferSystem)];
  }
  const [first, second] = codings;
  const text = cc.text;
  // Text alone is CWE-2 (the forward map reads CWE-2 as the text when there is no code).
  if (first === undefined) return text === undefined ? undefined : composite(enc, [undefined, text]);
  const originalText = text !== undefined && text !== first.display && !(first.display === undefined && text === second?.display) ? text : undefined;
  return composite(enc, [
    first.code,
    first.display,
    systemName(first.system, tenant),
    second?.code,
    second?.display,
    second !== undefined ? systemName(second.system, tenant) : undefined,
    first.version,
    second?.version,
    originalText,
  ]);
}

/** A Coding -> CWE. */
export function codingToCwe(enc: Hl7Encoding, c: Coding | undefined, tenant?: TenantMappingConfig): string | undefined {
  return c === undefined ? undefined : codeableConceptToCwe(enc, { coding: [c] }, tenant !== undefined ? { tenant } : {});
}

/** The code of the first coding of a CodeableConcept in `system` (or of any coding when no system is given). */
export function codeIn(cc: CodeableConcept | undefined, system?: string): string | undefined {
  const codings = cc?.coding ?? [];
  return (system === undefined ? codings[0] : codings.find((c) => c.system === system))?.code;
}

// ---- quantities ----------------------------------------------------------------------------------

/** A number as NM text: plain decimal notation, never an exponent (NM has none, ch.2A 2.A.47). */
export function nmText(value: number | undefined): string | undefined {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  const s = String(value);
  if (!/e/i.test(s)) return s;
  // 1e21 and up are whole numbers (doubles have no fraction digits there); 1e-7 -> 0.0000001.
  if (Math.abs(value) >= 1e21) return BigInt(value).toString();
  return value.toFixed(20).replace(/\.?0+$/, '');
}

/**
 * The units of a Quantity as CWE (OBX-6): code^unit^UCUM when the system is UCUM (or code^unit^name
 * for another known system), else the unit text alone in CWE-1 (as the forward map reads it).
 */
export function quantityUnits(enc: Hl7Encoding, q: Quantity | undefined, tenant?: TenantMappingConfig): string | undefined {
  if (q === undefined) return undefined;
  const code = q.code;
  if (code !== undefined && q.system !== undefined) return composite(enc, [code, q.unit ?? code, systemName(q.system, tenant)]);
  const unit = q.unit ?? code;
  return unit === undefined ? undefined : composite(enc, [unit]);
}

/** Quantity -> NM (value) and its units (CWE), the pair OBX-5/OBX-6 carry (IG NM[Quantity], CWE[Quantity]). */
export function quantityToNm(enc: Hl7Encoding, q: Quantity | undefined, tenant?: TenantMappingConfig): { value: string; units: string | undefined } | undefined {
  const value = nmText(q?.value);
  if (value === undefined) return undefined;
  return { value, units: quantityUnits(enc, q, tenant) };
}
