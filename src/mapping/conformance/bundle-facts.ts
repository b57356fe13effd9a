/**
 * Facts of a FHIR Bundle, for comparing our conversion of a corpus message with the expected
 * bundle shipped beside it (issue 4, "Proof": facts, not bytes). Works on any bundle (ours, the
 * Microsoft converter's, ReportStream's, the IG samples'), in JSON shape; arrays and single values
 * are both accepted because the XML reader cannot tell a one-element array from a value.
 *
 * A fact is (kind, key, value): `Observation.value` keyed by the observation's code, say. Values are
 * normalised so that notational differences do not count as differences: code system names and
 * OIDs to their FHIR URIs, decimals without trailing zeros, time zones as `Z`, whitespace runs as
 * one space. Times are compared by `sameValue` (as instants when both carry a zone).
 */

export const FactKind = {
  count: 'count',
  patientIdentifier: 'Patient.identifier',
  patientIdentifierType: 'Patient.identifier.type',
  patientFamily: 'Patient.name.family',
  patientGiven: 'Patient.name.given',
  patientBirthDate: 'Patient.birthDate',
  patientGender: 'Patient.gender',
  encounterClass: 'Encounter.class',
  encounterStart: 'Encounter.period.start',
  encounterEnd: 'Encounter.period.end',
  observationCode: 'Observation.code',
  observationValue: 'Observation.value',
  observationUnit: 'Observation.unit',
  observationStatus: 'Observation.status',
  observationEffective: 'Observation.effective',
  documentType: 'DocumentReference.type',
  documentStatus: 'DocumentReference.status',
  documentDocStatus: 'DocumentReference.docStatus',
} as const;
export type FactKind = (typeof FactKind)[keyof typeof FactKind];

export interface Fact {
  readonly kind: FactKind;
  /** What the value is about within its kind: a resource type, an identifier value, an observation code. */
  readonly key: string;
  readonly value: string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const objs = (v: unknown): Obj[] => asArray(v).filter(isObj);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
const text = (v: unknown): string | undefined => {
  const s = str(v);
  if (s === undefined) return undefined;
  const t = s.replace(/\s+/g, ' ').trim();
  return t === '' ? undefined : t;
};

// Code system URIs written differently for the same system (FHIR R4 terminologies-systems.html;
// the OIDs of HL7 v2 table 0396). Local systems of different converters ("http://example.com/
// v2-to-fhir-converter/CodeSystem/XYZ", "urn:switchboard:local:XYZ") compare by their local name.
const SYSTEM_ALIASES: Readonly<Record<string, string>> = {
  'urn:oid:2.16.840.1.113883.6.1': 'http://loinc.org',
  'https://loinc.org': 'http://loinc.org',
  'urn:oid:2.16.840.1.113883.6.96': 'http://snomed.info/sct',
  'urn:oid:2.16.840.1.113883.6.8': 'http://unitsofmeasure.org',
  'urn:oid:2.16.840.1.113883.6.90': 'http://hl7.org/fhir/sid/icd-10-cm',
  'urn:oid:2.16.840.1.113883.12.292': 'http://hl7.org/fhir/sid/cvx',
  'urn:oid:2.16.840.1.113883.6.88': 'http://www.nlm.nih.gov/research/umls/rxnorm',
  LN: 'http://loinc.org',
  LNC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  UCUM: 'http://unitsofmeasure.org',
};

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A code system URI in one spelling per system. */
export function normaliseSystem(system: string | undefined): string {
  if (system === undefined) return '';
  const s = system.trim();
  const alias = SYSTEM_ALIASES[s] ?? SYSTEM_ALIASES[s.toUpperCase()];
  if (alias !== undefined) return alias;
  const v2Table = /^urn:oid:2\.16\.840\.1\.113883\.12\.(\d+)$/.exec(s);
  if (v2Table !== null) return `http://terminology.hl7.org/CodeSystem/v2-${(v2Table[1] as string).padStart(4, '0')}`;
  const local = /^https?:\/\/example\.(?:com|org)\/.*\/CodeSystem\/([^/]+)$/.exec(s) ?? /^urn:switchboard:local[:/](?:cs[:/]|CodeSystem[:/])?([^/:]+)$/.exec(s);
  if (local !== null) return `local:${safeDecode(local[1] as string).toUpperCase()}`;
  return s;
}

/** A decimal in its shortest form: "190.0" -> "190", "0.50" -> "0.5", "+7" -> "7". Other text is kept. */
export function normaliseDecimal(value: string): string {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$/.exec(value);
  if (m === null || ((m[2] ?? '') === '' && (m[3] ?? '') === '')) return value.trim();
  const int = (m[2] ?? '').replace(/^0+(?=\d)/, '') || '0';
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const sign = m[1] === '-' && (int !== '0' || frac !== '') ? '-' : '';
  return `${sign}${int}${frac === '' ? '' : `.${frac}`}`;
}

const ZONED = /(Z|[+-]\d{2}:?\d{2})$/;

/** A FHIR date/dateTime/instant with the zone written `Z` for UTC and trailing zero fractions dropped. */
export function normaliseTime(value: string): string {
  let v = value.trim().replace(/([+-])00:?00$/, 'Z');
  // "13:58:23.000Z" and "13:58:23Z" are the same instant and the same precision for our purpose.
  v = v.replace(/(\d{2}:\d{2}:\d{2})\.0+(?=Z|[+-]|$)/, '$1');
  v = v.replace(/(\d{2}:\d{2}:\d{2}\.\d*?)0+(?=Z|[+-]|$)/, '$1');
  return v;
}

/**
 * Two times are the same when both carry a zone and denote the same instant; otherwise when the
 * date-time text of one (without its zone) is a prefix of the other's (a date against a date-time
 * on that day, or a local time against the same wall-clock time with a zone).
 */
export function sameTime(a: string, b: string): boolean {
  const x = normaliseTime(a);
  const y = normaliseTime(b);
  if (x === y) return true;
  const hasTime = (s: string): boolean => s.includes('T');
  if (ZONED.test(x) && ZONED.test(y) && hasTime(x) && hasTime(y)) {
    const tx = Date.parse(x);
    const ty = Date.parse(y);
    return Number.isFinite(tx) && tx === ty;
  }
  const bare = (s: string): string => s.replace(ZONED, '');
  const [short, long] = bare(x).length <= bare(y).length ? [bare(x), bare(y)] : [bare(y), bare(x)];
  return short.length > 0 && long.startsWith(short);
}

const TIME_KINDS: ReadonlySet<FactKind> = new Set<FactKind>([FactKind.encounterStart, FactKind.encounterEnd, FactKind.observationEffective, FactKind.patientBirthDate]);

/** Fact equality: times by `sameTime`, date-time values of observations too, the rest as text. */
export function sameValue(kind: FactKind, expected: string, ours: string): boolean {
  if (expected === ours) return true;
  if (TIME_KINDS.has(kind)) return sameTime(expected, ours);
  if (kind === FactKind.observationValue && expected.startsWith('time:') && ours.startsWith('time:')) return sameTime(expected.slice(5), ours.slice(5));
  return false;
}

/** The resources of a bundle's entries (a bare resource counts as a one-entry bundle). */
export function bundleResources(bundle: unknown): Obj[] {
  if (!isObj(bundle)) return [];
  if (bundle['resourceType'] !== 'Bundle') return typeof bundle['resourceType'] === 'string' ? [bundle] : [];
  return objs(bundle['entry'])
    .map((e) => e['resource'])
    .filter(isObj)
    .filter((r) => typeof r['resourceType'] === 'string');
}

function codings(cc: unknown): Obj[] {
  return objs(cc).flatMap((c) => objs(c['coding']));
}

/** `system|code` with the system normalised. */
function codingKey(c: Obj): string | undefined {
  const code = text(c['code']);
  return code === undefined ? undefined : `${normaliseSystem(str(c['system']))}|${code}`;
}

/** The code an observation's facts are keyed by: its LOINC code when it has one, else its first code, else its text. */
export function observationKey(obs: Obj): string {
  const cs = codings(obs['code']);
  const loinc = cs.find((c) => normaliseSystem(str(c['system'])) === 'http://loinc.org' && text(c['code']) !== undefined);
  const first = loinc ?? cs.find((c) => text(c['code']) !== undefined);
  return (first !== undefined ? text(first['code']) : undefined) ?? text(objs(obs['code'])[0]?.['text']) ?? '(no code)';
}

function firstTime(r: Obj, prefix: string): string | undefined {
  for (const suffix of ['DateTime', 'Instant', 'Date']) {
    const v = str(r[`${prefix}${suffix}`]);
    if (v !== undefined) return v;
  }
  const period = objs(r[`${prefix}Period`])[0];
  return period !== undefined ? str(period['start']) : undefined;
}

/** An observation's value as one comparable text (`q:190`, `cc:27268008`, `string:...`), and its unit. */
function observationValue(obs: Obj): { value?: string; unit?: string } {
  const q = objs(obs['valueQuantity'])[0];
  if (q !== undefined) {
    const v = str(q['value']);
    const unit = text(q['code']) ?? text(q['unit']);
    const comparator = str(q['comparator']) ?? '';
    return { ...(v !== undefined ? { value: `q:${comparator}${normaliseDecimal(v)}` } : {}), ...(unit !== undefined ? { unit } : {}) };
  }
  const cc = objs(obs['valueCodeableConcept'])[0];
  if (cc !== undefined) {
    const code = codings(cc).map((c) => text(c['code'])).find((c) => c !== undefined) ?? text(cc['text']);
    return code !== undefined ? { value: `cc:${code}` } : {};
  }
  const s = text(obs['valueString']);
  if (s !== undefined) return { value: `string:${s}` };
  for (const [key, tag] of [['valueDateTime', 'time'], ['valueInstant', 'time'], ['valueBoolean', 'bool']] as const) {
    const v = str(obs[key]);
    if (v !== undefined) return { value: `${tag}:${v}` };
  }
  const tm = str(obs['valueTime']);
  // "22:31:00.0000" and the colon-less "223100.0000" some converters write: the same time of day.
  if (tm !== undefined) return { value: `tm:${tm.replace(/:/g, '').replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '')}` };
  const i = str(obs['valueInteger']);
  if (i !== undefined) return { value: `q:${normaliseDecimal(i)}` };
  const range = objs(obs['valueRange'])[0];
  if (range !== undefined) {
    const bound = (b: unknown): string => {
      const v = str(objs(b)[0]?.['value']);
      return v === undefined ? '' : normaliseDecimal(v);
    };
    const unit = text(objs(range['low'])[0]?.['code']) ?? text(objs(range['high'])[0]?.['code']) ?? text(objs(range['low'])[0]?.['unit']) ?? text(objs(range['high'])[0]?.['unit']);
    return { value: `range:${bound(range['low'])}-${bound(range['high'])}`, ...(unit !== undefined ? { unit } : {}) };
  }
  const ratio = objs(obs['valueRatio'])[0];
  if (ratio !== undefined) {
    const part = (p: unknown): string => {
      const v = str(objs(p)[0]?.['value']);
      return v === undefined ? '' : normaliseDecimal(v);
    };
    return { value: `ratio:${part(ratio['numerator'])}:${part(ratio['denominator'])}` };
  }
  const period = objs(obs['valuePeriod'])[0];
  if (period !== undefined) return { value: `period:${str(period['start']) ?? ''}/${str(period['end']) ?? ''}` };
  const attachment = objs(obs['valueAttachment'])[0];
  if (attachment !== undefined) return { value: `attachment:${text(attachment['contentType']) ?? ''}` };
  return {};
}

/** Every fact of a bundle. */
export function extractFacts(bundle: unknown): Fact[] {
  const facts: Fact[] = [];
  const add = (kind: FactKind, key: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') facts.push({ kind, key, value });
  };
  const counts = new Map<string, number>();
  for (const r of bundleResources(bundle)) {
    const type = r['resourceType'] as string;
    counts.set(type, (counts.get(type) ?? 0) + 1);
    switch (type) {
      case 'Patient':
        patientFacts(r, add);
        break;
      case 'Encounter': {
        const cls = objs(r['class'])[0];
        add(FactKind.encounterClass, '', cls !== undefined ? text(cls['code']) : undefined);
        const period = objs(r['period'])[0];
        if (period !== undefined) {
          add(FactKind.encounterStart, '', str(period['start']));
          add(FactKind.encounterEnd, '', str(period['end']));
        }
        break;
      }
      case 'Observation': {
        const key = observationKey(r);
        for (const c of codings(r['code'])) add(FactKind.observationCode, '', codingKey(c));
        const { value, unit } = observationValue(r);
        add(FactKind.observationValue, key, value);
        add(FactKind.observationUnit, key, unit);
        add(FactKind.observationStatus, key, text(r['status']));
        add(FactKind.observationEffective, key, firstTime(r, 'effective'));
        break;
      }
      case 'DocumentReference':
        for (const c of codings(r['type'])) add(FactKind.documentType, '', codingKey(c));
        add(FactKind.documentStatus, '', text(r['status']));
        add(FactKind.documentDocStatus, '', text(r['docStatus']));
        break;
      default:
        break;
    }
  }
  for (const [type, n] of counts) add(FactKind.count, type, String(n));
  return facts;
}

function patientFacts(p: Obj, add: (kind: FactKind, key: string, value: string | undefined) => void): void {
  for (const id of objs(p['identifier'])) {
    const value = text(id['value']);
    if (value === undefined) continue;
    add(FactKind.patientIdentifier, '', value);
    const type = codings(id['type']).map((c) => text(c['code'])).find((c) => c !== undefined);
    add(FactKind.patientIdentifierType, value, type);
  }
  for (const name of objs(p['name'])) {
    const family = text(name['family']);
    const given = asArray(name['given']).map(text).filter((g) => g !== undefined).join(' ');
    add(FactKind.patientFamily, '', family);
    add(FactKind.patientGiven, family ?? '(no family)', given);
  }
  // birthDate is a date; PID-7's time of day goes to the patient-birthTime extension (FHIR R4 patient.html).
  add(FactKind.patientBirthDate, '', text(p['birthDate']));
  add(FactKind.patientGender, '', text(p['gender']));
}
