import type { Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier, Period, Quantity, Range, Ratio } from '@medplum/fhirtypes';
import { SwitchboardError } from '../core/errors.ts';
import type { Hl7Cwe, Hl7Cx, Hl7Hd, Hl7Sn, Hl7Xad, Hl7Xcn, Hl7Xpn, Hl7Xtn } from '../hl7v2/index.ts';
import { knownSystemUri, v2TableUri } from './code-systems.ts';
import { JoinCache } from './flat-strings.ts';
import type { MappingContext } from './mapping-context.ts';
import { lookupCode } from './tenant-config.ts';

/**
 * HL7 v2 datatypes -> FHIR R4 datatypes, after the HL7 V2-to-FHIR IG datatype maps (CX[Identifier],
 * XPN[HumanName], XAD[Address], XTN[ContactPoint], CWE[CodeableConcept], DTM[dateTime],
 * CQ/NM[Quantity], SN[Range/Ratio/Quantity]) and its concept maps for the small HL7 tables.
 * Every function returns undefined for an empty value, never an empty object.
 */

// ---- small HL7 tables (IG concept maps) --------------------------------------------------------

/** HL7 table 0001 -> administrative-gender (IG concept map AdministrativeSex). */
export const ADMINISTRATIVE_SEX: Readonly<Record<string, 'male' | 'female' | 'other' | 'unknown'>> = { F: 'female', M: 'male', O: 'other', U: 'unknown', A: 'other', N: 'other', X: 'other' };

/** HL7 table 0200 -> name-use (IG concept map NameType). */
const NAME_USE: Readonly<Record<string, HumanName['use']>> = { L: 'official', R: 'official', C: 'usual', M: 'maiden', N: 'nickname', S: 'anonymous', NAV: 'temp', TEMP: 'temp', BAD: 'old', NOUSE: 'old' };

/** HL7 table 0190 -> address-use and address-type (IG concept maps AddressType[Use] / [Type]). */
const ADDRESS_USE: Readonly<Record<string, Address['use']>> = { H: 'home', B: 'work', O: 'work', C: 'temp', BA: 'old', BI: 'billing' };
const ADDRESS_TYPE: Readonly<Record<string, Address['type']>> = { M: 'postal', SH: 'postal' };

/** HL7 tables 0201/0202 -> contact-point-use / contact-point-system (IG concept maps). */
const TELECOM_USE: Readonly<Record<string, ContactPoint['use']>> = { PRN: 'home', ORN: 'home', VHN: 'home', WPN: 'work', PRS: 'mobile', EMR: 'home' };
const TELECOM_SYSTEM: Readonly<Record<string, ContactPoint['system']>> = { PH: 'phone', FX: 'fax', MD: 'other', CP: 'phone', SAT: 'other', BP: 'pager', Internet: 'email', X400: 'email', TDD: 'other', TTY: 'other' };

// ---- identifiers ---------------------------------------------------------------------------------

/**
 * The identifier system for an assigning authority (HD): the tenant's configured URI for its
 * namespace or universal id, else the universal id itself when it is an OID, UUID or URI, else a
 * URI under the tenant's local base. Undefined when there is no assigning authority.
 */
export function identifierSystem(ctx: MappingContext, hd: Hl7Hd | undefined): string | undefined {
  if (hd === undefined) return undefined;
  const configured = (hd.namespaceId !== undefined ? ctx.tenant.identifierSystems[hd.namespaceId] : undefined) ?? (hd.universalId !== undefined ? ctx.tenant.identifierSystems[hd.universalId] : undefined);
  if (configured !== undefined) return configured;
  const uid = hd.universalId;
  if (uid !== undefined) {
    const type = (hd.universalIdType ?? '').toUpperCase();
    // Only a well-formed OID becomes urn:oid (senders put names in HD-2 with type ISO; such a
    // urn:oid is not a valid FHIR uri), else the namespace fallback below applies.
    if (/^\d+(\.\d+)+$/.test(uid)) return oidUri(uid);
    if (type === 'UUID' || type === 'GUID') return `urn:uuid:${uid.toLowerCase()}`;
    if (type === 'URI' || /^(https?|urn):/i.test(uid)) return uid;
  }
  const ns = hd.namespaceId ?? uid;
  return ns === undefined ? undefined : LOCAL_ID_SYSTEMS.get(ctx.tenant.localSystemBase, ns);
}

/** `urn:oid:<oid>`, `<local base>:id:<namespace>` and `<local base>:cs:<coding system>`, one flat string each (see flat-strings.ts). */
const OID_URIS = new JoinCache(':');
const LOCAL_ID_SYSTEMS = new JoinCache(':id:', { encodeURIComponent: true });
const LOCAL_CODE_SYSTEMS = new JoinCache(':cs:', { encodeURIComponent: true });

/** `urn:oid:<oid>` for an OID the caller checked, one shared flat string per OID (identifier systems, endpoints). */
export function oidUri(oid: string): string {
  return OID_URIS.get('urn:oid', oid);
}

/** CX -> Identifier (IG CX[Identifier]): value, system from CX-4, type from CX-5 (table 0203). */
export function cxToIdentifier(ctx: MappingContext, cx: Hl7Cx | undefined): Identifier | undefined {
  if (cx?.id === undefined) return undefined;
  const out: Identifier = { value: cx.id };
  const system = identifierSystem(ctx, cx.assigningAuthority ?? cx.assigningFacility);
  if (system !== undefined) out.system = system;
  const typeCode = cx.identifierTypeCode?.trim();
  if (typeCode !== undefined && typeCode !== '') out.type = { coding: [{ system: v2TableUri('0203'), code: typeCode }] };
  const assigner = cx.assigningAuthority?.namespaceId ?? cx.assigningAuthority?.universalId;
  if (assigner !== undefined) out.assigner = { display: assigner };
  return out;
}

/** EI/EIP -> Identifier (IG EI[Identifier-System]): EI-1 value, EI-2..4 the assigning authority. */
export function eiToIdentifier(ctx: MappingContext, raw: string | undefined, enc: { component: string }, type?: string): Identifier | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(enc.component);
  const value = parts[0];
  if (value === undefined || value === '') return undefined;
  const hd: Hl7Hd = compactHd(parts[1], parts[2], parts[3]);
  const out: Identifier = { value };
  const system = identifierSystem(ctx, Object.keys(hd).length === 0 ? undefined : hd);
  if (system !== undefined) out.system = system;
  if (type !== undefined && type.trim() !== '') out.type = { coding: [{ system: v2TableUri('0203'), code: type.trim() }] };
  return out;
}

function compactHd(ns: string | undefined, uid: string | undefined, uidType: string | undefined): Hl7Hd {
  return { ...(ns ? { namespaceId: ns } : {}), ...(uid ? { universalId: uid } : {}), ...(uidType ? { universalIdType: uidType } : {}) };
}

// ---- names, addresses, telecom -----------------------------------------------------------------

/** XPN -> HumanName (IG XPN[HumanName]). Middle names are further given names. */
export function xpnToHumanName(xpn: Hl7Xpn | undefined): HumanName | undefined {
  if (xpn === undefined) return undefined;
  return humanName(xpn.family, xpn.given, xpn.middle, xpn.suffix, xpn.prefix, xpn.degree, xpn.nameTypeCode);
}

/** XCN's name part -> HumanName (an empty component counts as absent). */
export function xcnToHumanName(xcn: Hl7Xcn): HumanName | undefined {
  return humanName(xcn.family || undefined, xcn.given || undefined, xcn.middle || undefined, xcn.suffix || undefined, xcn.prefix || undefined, xcn.degree || undefined, xcn.nameTypeCode || undefined);
}

/** The HumanName of XPN/XCN name components, built in one pass (no intermediate arrays or copies). */
function humanName(family: string | undefined, given: string | undefined, middle: string | undefined, suffix: string | undefined, prefix: string | undefined, degree: string | undefined, nameTypeCode: string | undefined): HumanName | undefined {
  const out: HumanName = {};
  let empty = true;
  if (family !== undefined) {
    out.family = family;
    empty = false;
  }
  const givens: string[] = given !== undefined ? [given] : [];
  if (middle !== undefined) {
    if (middle.indexOf(' ') === -1) {
      if (middle !== '') givens.push(middle);
    } else for (const g of middle.split(' ')) if (g !== '') givens.push(g);
  }
  if (givens.length > 0) {
    out.given = givens;
    empty = false;
  }
  if (prefix !== undefined) {
    out.prefix = [prefix];
    empty = false;
  }
  if (suffix !== undefined || degree !== undefined) {
    out.suffix = suffix === undefined ? [degree as string] : degree === undefined ? [suffix] : [suffix, degree];
    empty = false;
  }
  const use = nameTypeCode !== undefined ? NAME_USE[nameTypeCode] : undefined;
  if (use !== undefined) {
    out.use = use;
    empty = false;
  }
  return empty ? undefined : out;
}

/** XAD -> Address (IG XAD[Address]). */
export function xadToAddress(xad: Hl7Xad | undefined): Address | undefined {
  if (xad === undefined) return undefined;
  const out: Address = {};
  const street = xad.street;
  const other = xad.otherDesignation;
  if (street !== undefined || other !== undefined) out.line = street === undefined ? [other as string] : other === undefined ? [street] : [street, other];
  if (xad.city !== undefined) out.city = xad.city;
  if (xad.state !== undefined) out.state = xad.state;
  if (xad.postalCode !== undefined) out.postalCode = xad.postalCode;
  if (xad.country !== undefined) out.country = xad.country;
  if (xad.county !== undefined) out.district = xad.county;
  if (xad.addressType !== undefined) {
    const use = ADDRESS_USE[xad.addressType];
    const type = ADDRESS_TYPE[xad.addressType];
    if (use !== undefined) out.use = use;
    if (type !== undefined) out.type = type;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** XTN -> ContactPoint (IG XTN[ContactPoint]): XTN-4 email, else XTN-1 or the structured number. */
export function xtnToContactPoint(xtn: Hl7Xtn | undefined): ContactPoint | undefined {
  if (xtn === undefined) return undefined;
  const out: ContactPoint = {};
  let value = xtn.email ?? xtn.number ?? structuredNumber(xtn);
  if (value !== undefined && xtn.extension !== undefined && xtn.email === undefined) value += ` ext. ${xtn.extension}`;
  if (value === undefined) return undefined;
  out.value = value;
  const system = xtn.email !== undefined ? 'email' : xtn.equipmentType !== undefined ? TELECOM_SYSTEM[xtn.equipmentType] : 'phone';
  if (system !== undefined) out.system = system;
  if (xtn.useCode === 'NET' && out.system === undefined) out.system = 'email';
  const use = xtn.useCode !== undefined ? TELECOM_USE[xtn.useCode] : undefined;
  if (use !== undefined) out.use = use;
  return out;
}

/** XTN-5..7 as `+country (area) local`, the parts sent joined by spaces; undefined when none is. */
function structuredNumber(xtn: Hl7Xtn): string | undefined {
  let out: string | undefined;
  if (xtn.countryCode !== undefined) out = `+${xtn.countryCode}`;
  if (xtn.areaCode !== undefined) out = out === undefined ? `(${xtn.areaCode})` : `${out} (${xtn.areaCode})`;
  if (xtn.localNumber !== undefined) out = out === undefined ? xtn.localNumber : `${out} ${xtn.localNumber}`;
  return out;
}

// ---- codes ---------------------------------------------------------------------------------------

/** The FHIR system URI of a v2 coding system name (CWE-3), tenant-configured local ones first. */
export function codeSystemUri(ctx: MappingContext, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  // The same few systems (LN, UCUM, L) recur on every OBX: resolved once per message. The warning
  // for an unknown one is the same text every time, and warnings are kept once each.
  let uri = ctx.systemUris.get(name);
  if (uri === undefined) ctx.systemUris.set(name, (uri = resolveSystemUri(ctx, name)));
  return uri;
}

function resolveSystemUri(ctx: MappingContext, name: string): string {
  const configured = ctx.tenant.codeSystems[name];
  if (configured !== undefined) return configured;
  const known = knownSystemUri(name);
  if (known !== undefined) return known;
  ctx.warn(`coding system ${name} is not known; mapped under ${ctx.tenant.localSystemBase}`);
  return LOCAL_CODE_SYSTEMS.get(ctx.tenant.localSystemBase, name);
}

function coding(ctx: MappingContext, rawCode: string | undefined, display: string | undefined, system: string | undefined, version: string | undefined, table: string | undefined): Coding | undefined {
  // FHIR codes have no leading/trailing whitespace (R4 datatypes.html#code); senders pad them.
  const code = rawCode?.trim();
  if (code === undefined || code === '') return undefined;
  const out: Coding = { code };
  const uri = system !== undefined ? codeSystemUri(ctx, system) : table !== undefined ? v2TableUri(table) : undefined;
  if (uri !== undefined) out.system = uri;
  if (version !== undefined) out.version = version;
  if (display !== undefined) out.display = display;
  return out;
}

export interface CodeOptions {
  /** The field, e.g. `OBX-3`, for tenant code maps and messages. */
  readonly field: string;
  /** HL7 table to assume when CWE-3 is empty (e.g. '0203'). */
  readonly table?: string;
}

/**
 * CWE/CE/CNE -> CodeableConcept (IG CWE[CodeableConcept]): the primary and the alternate coding,
 * text from CWE-9 (original text) else CWE-2. A tenant code map for the field adds its target
 * coding first and keeps the sent ones (nothing is replaced, so nothing is lost).
 */
export function cweToCodeableConcept(ctx: MappingContext, cwe: Hl7Cwe | undefined, options: CodeOptions): CodeableConcept | undefined {
  if (cwe === undefined) return undefined;
  const codings: Coding[] = [];
  const primary = coding(ctx, cwe.code, cwe.text, cwe.system, cwe.systemVersion, options.table);
  const alternate = coding(ctx, cwe.alternateCode, cwe.alternateText, cwe.alternateSystem, cwe.alternateSystemVersion, undefined);
  for (const map of ctx.tenant.codeMaps) {
    if (map.fields.length > 0 && !map.fields.includes(options.field)) continue;
    if (cwe.code === undefined) continue;
    const hit = lookupCode(map, cwe.system, cwe.code);
    if (hit !== undefined) {
      codings.push({ system: hit.targetSystem, code: hit.targetCode, ...(hit.targetDisplay !== undefined ? { display: hit.targetDisplay } : {}) });
    } else if (map.unmapped === 'error' && map.fields.length > 0) {
      throw new SwitchboardError('SWB_ERR_MAP_CODE_UNMAPPED', { field: options.field, map: map.name });
    }
  }
  if (primary !== undefined) codings.push(primary);
  if (alternate !== undefined) codings.push(alternate);
  const text = cwe.originalText ?? cwe.text ?? (primary === undefined ? cwe.alternateText : undefined);
  if (codings.length === 0 && text === undefined) return undefined;
  const out: CodeableConcept = {};
  if (codings.length > 0) out.coding = codings;
  if (text !== undefined) out.text = text;
  return out;
}

/** A bare code (ID/IS) from an HL7 table -> CodeableConcept with the table's FHIR system. */
export function tableCode(rawCode: string | undefined, table: string, display?: string): CodeableConcept | undefined {
  const code = rawCode?.trim();
  if (code === undefined || code === '') return undefined;
  return { coding: [{ system: v2TableUri(table), code, ...(display !== undefined ? { display } : {}) }] };
}

// ---- quantities ----------------------------------------------------------------------------------

/** A UCUM-looking unit is sent with its UCUM system; anything else as a unit text only. */
function unitFields(ctx: MappingContext, units: Hl7Cwe | undefined, field: string): Pick<Quantity, 'unit' | 'system' | 'code'> {
  if (units === undefined) return {};
  const code = units.code ?? units.text;
  if (code === undefined) return {};
  const out: Pick<Quantity, 'unit' | 'system' | 'code'> = { unit: units.text ?? code };
  const sys = units.system !== undefined ? codeSystemUri(ctx, units.system) : undefined;
  if (sys !== undefined) {
    out.system = sys;
    out.code = units.code ?? code;
  } else if (units.system === undefined && looksLikeUcum(code)) {
    // v2 senders often leave CWE-3 of the units empty; a unit that parses as UCUM is taken as one.
    out.system = 'http://unitsofmeasure.org';
    out.code = code;
  } else ctx.warn(`${field}: unit without a coding system kept as text`);
  return out;
}

// A UCUM term: atoms (letters, %, digits, [bracketed] units) with exponents, joined by . / *, and
// {annotations} (UCUM specification 2.1-2.4). Syntax only: it does not check the unit exists.
const UCUM_ATOM = String.raw`(?:(?:\[[A-Za-z0-9_.'-]+\]|[a-zA-Z%]+|\d+)+(?:-?\d+)?(?:\{[^}]*\})?|\{[^}]*\})`;
const UCUM_RE = new RegExp(`^${UCUM_ATOM}(?:[./*]${UCUM_ATOM})*$`);

/** A cheap syntactic check for UCUM (common lab units: mg/dL, mmol/L, 10*3/uL, %, [IU]/L, {ratio}). */
export function looksLikeUcum(unit: string): boolean {
  return unit.length <= 40 && UCUM_RE.test(unit);
}

/** NM + units (CWE) -> Quantity. */
export function nmToQuantity(ctx: MappingContext, value: number | undefined, units: Hl7Cwe | undefined, field: string): Quantity | undefined {
  if (value === undefined) return undefined;
  return { value, ...unitFields(ctx, units, field) };
}

/**
 * SN -> Quantity with a comparator, a Range (`-`), or a Ratio (`/`, `:`) (IG datatype map SN).
 * `<>` and `=` have no FHIR comparator: `=` is a plain value; `<>` returns undefined (the caller
 * keeps the text).
 */
export function snToValue(ctx: MappingContext, sn: Hl7Sn, units: Hl7Cwe | undefined, field: string): { valueQuantity: Quantity } | { valueRange: Range } | { valueRatio: Ratio } | undefined {
  const u = unitFields(ctx, units, field);
  if (sn.separator === '-' && sn.num1 !== undefined && sn.num2 !== undefined) {
    return { valueRange: { low: { value: sn.num1, ...u }, high: { value: sn.num2, ...u } } };
  }
  if ((sn.separator === '/' || sn.separator === ':') && sn.num1 !== undefined && sn.num2 !== undefined) {
    return { valueRatio: { numerator: { value: sn.num1 }, denominator: { value: sn.num2 } } };
  }
  if (sn.separator === '.' && sn.num1 !== undefined && sn.num2 !== undefined) {
    return { valueQuantity: { value: Number(`${sn.num1}.${sn.num2}`), ...u } };
  }
  if (sn.num1 === undefined || sn.separator === '+' || sn.comparator === '<>') return undefined;
  const q: Quantity = { value: sn.num1, ...u };
  if (sn.comparator === '<' || sn.comparator === '>' || sn.comparator === '<=' || sn.comparator === '>=') q.comparator = sn.comparator;
  return { valueQuantity: q };
}

/** DR-like pair of dateTimes -> Period. */
export function period(start: string | undefined, end: string | undefined): Period | undefined {
  if (start === undefined) return end === undefined ? undefined : { end };
  return end === undefined ? { start } : { start, end };
}
