import type { Extension, Identifier, Patient, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { ADMINISTRATIVE_SEX, cweToCodeableConcept, cxToIdentifier, xadToAddress, xpnToHumanName, xtnToContactPoint } from '../v2-datatypes.ts';

/** OMB race categories (CDC Race & Ethnicity code system) that US Core's race extension takes as ombCategory. */
const OMB_RACE = new Set(['1002-5', '2028-9', '2054-5', '2076-8', '2106-3', 'UNK', 'ASKU']);
const OMB_ETHNICITY = new Set(['2135-2', '2186-5']);
const CDC_REC = 'urn:oid:2.16.840.1.113883.6.238';

/**
 * PID -> Patient (HL7 V2-to-FHIR IG segment map PID[Patient]). The Patient's id comes from its first
 * PID-3 identifier, so every message about the same patient updates one resource. Sets ctx.patient.
 */
export function mapPid(ctx: MappingContext, pid: SegmentReader): Reference<Patient> {
  const identifiers: Identifier[] = [];
  for (const cx of pid.readAll(3, 'CX', 'Patient.identifier')) {
    const id = cxToIdentifier(ctx, cx);
    if (id !== undefined) identifiers.push(id);
  }
  // PID-2 (patient id, withdrawn in v2.7) and PID-4 (alternate id) are further identifiers.
  for (const field of [2, 4]) {
    for (const cx of pid.readAll(field, 'CX', 'Patient.identifier')) {
      const id = cxToIdentifier(ctx, cx);
      if (id !== undefined) identifiers.push(id);
    }
  }
  const ssn = pid.text(19, 'Patient.identifier');
  if (ssn !== undefined) identifiers.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'SS' }] } });
  const dl = pid.raw(20, 'Patient.identifier');
  if (dl !== undefined) {
    const [number, state] = dl.split(pid.encoding.component);
    if (number) identifiers.push({ value: number, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'DL' }] }, ...(state ? { assigner: { display: state } } : {}) });
  }
  const first = identifiers[0];
  const patientId = first !== undefined ? ctx.id('Patient', first.system, first.value) : ctx.id('Patient', ctx.messageKey, String(pid.index));
  if (first === undefined) ctx.warn('PID-3 holds no identifier: the Patient id is derived from this message and will not match other messages');
  const patient: Patient & { id: string } = { resourceType: 'Patient', id: patientId };
  if (identifiers.length > 0) patient.identifier = identifiers;

  const names = pid.readAll(5, 'XPN', 'Patient.name').map(xpnToHumanName).filter((n) => n !== undefined);
  // PID-9 patient alias: further names, usual unless their type says otherwise.
  for (const alias of pid.readAll(9, 'XPN', 'Patient.name')) {
    const n = xpnToHumanName(alias);
    if (n !== undefined) names.push({ use: 'usual', ...n });
  }
  if (names.length > 0) patient.name = names;

  const extensions: Extension[] = [];
  const mothersMaiden = xpnToHumanName(pid.read(6, 'XPN', 'Patient.extension:mothersMaidenName'));
  if (mothersMaiden?.family !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: mothersMaiden.family });

  const dob = pid.read(7, 'TS', 'Patient.birthDate');
  // Year 0000 is a sender's placeholder, not a date FHIR can hold (R4 datatypes.html#date).
  if (dob !== undefined && dob.iso.startsWith('0000')) {
    pid.reject(7, 'year 0000 is a placeholder, not a date');
    ctx.warn('PID-7: year 0000 is not a date; birthDate left empty');
  } else if (dob !== undefined) {
    patient.birthDate = dob.iso.slice(0, 10);
    // A birth time is kept as the birthTime extension on birthDate (FHIR R4 patient-birthTime).
    if (dob.precision !== 'year' && dob.precision !== 'month' && dob.precision !== 'day') {
      const time = ctx.dateTime(dob, 'PID-7');
      if (time !== undefined) (patient as Patient & { _birthDate?: { extension: Extension[] } })._birthDate = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: time }] };
    }
  }
  const sex = pid.text(8, 'Patient.gender');
  if (sex !== undefined) {
    const g = ADMINISTRATIVE_SEX[sex.toUpperCase()];
    if (g !== undefined) patient.gender = g;
    else ctx.warn(`PID-8: administrative sex code not in HL7 table 0001; gender left empty`);
  }
  const races = pid.readAll(10, 'CWE', 'Patient.extension:us-core-race');
  if (races.length > 0) extensions.push(ombExtension(ctx, 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race', races, OMB_RACE, 'PID-10'));
  const ethnic = pid.readAll(22, 'CWE', 'Patient.extension:us-core-ethnicity');
  if (ethnic.length > 0) extensions.push(ombExtension(ctx, 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity', ethnic, OMB_ETHNICITY, 'PID-22'));

  const addresses = pid.readAll(11, 'XAD', 'Patient.address').map(xadToAddress).filter((a) => a !== undefined);
  const county = pid.text(12, 'Patient.address.district');
  if (county !== undefined && addresses[0] !== undefined && addresses[0].district === undefined) addresses[0].district = county;
  if (addresses.length > 0) patient.address = addresses;

  const telecom = [
    ...pid.readAll(13, 'XTN', 'Patient.telecom').map((x) => xtnToContactPoint(x)).map((c) => (c !== undefined && c.use === undefined && c.system !== 'email' ? { ...c, use: 'home' as const } : c)),
    ...pid.readAll(14, 'XTN', 'Patient.telecom').map((x) => xtnToContactPoint(x)).map((c) => (c !== undefined && c.use === undefined ? { ...c, use: 'work' as const } : c)),
    ...pid.readAll(40, 'XTN', 'Patient.telecom').map((x) => xtnToContactPoint(x)),
  ].filter((c) => c !== undefined);
  if (telecom.length > 0) patient.telecom = telecom;

  const language = cweToCodeableConcept(ctx, pid.read(15, 'CWE', 'Patient.communication.language'), { field: 'PID-15', table: '0296' });
  if (language !== undefined) patient.communication = [{ language, preferred: true }];
  const marital = cweToCodeableConcept(ctx, pid.read(16, 'CWE', 'Patient.maritalStatus'), { field: 'PID-16', table: '0002' });
  if (marital !== undefined) patient.maritalStatus = marital;
  const religion = cweToCodeableConcept(ctx, pid.read(17, 'CWE', 'Patient.extension:religion'), { field: 'PID-17', table: '0006' });
  if (religion !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-religion', valueCodeableConcept: religion });
  const account = pid.read(18, 'CX', 'Account.identifier');
  const birthPlace = pid.text(23, 'Patient.extension:birthPlace');
  if (birthPlace !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { text: birthPlace } });
  const multiple = pid.text(24, 'Patient.multipleBirthBoolean');
  const order = pid.text(25, 'Patient.multipleBirthInteger');
  if (order !== undefined && /^\d+$/.test(order)) patient.multipleBirthInteger = Number(order);
  else if (multiple === 'Y' || multiple === 'N') patient.multipleBirthBoolean = multiple === 'Y';
  for (const c of pid.readAll(26, 'CWE', 'Patient.extension:citizenship')) {
    const code = cweToCodeableConcept(ctx, c, { field: 'PID-26', table: '0171' });
    if (code !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-citizenship', extension: [{ url: 'code', valueCodeableConcept: code }] });
  }
  const death = pid.read(29, 'TS', 'Patient.deceasedDateTime');
  const deathIndicator = pid.text(30, 'Patient.deceasedBoolean');
  const deathTime = ctx.dateTime(death, 'PID-29');
  if (deathTime !== undefined) patient.deceasedDateTime = deathTime;
  else if (deathIndicator === 'Y' || deathIndicator === 'N') patient.deceasedBoolean = deathIndicator === 'Y';
  pid.skip(1, 'set id orders segments; not data');
  pid.skip(21, "mother's identifier needs the mother as a RelatedPerson (not created from PID)");
  pid.skip(27, 'veterans military status has no Patient element');
  pid.skip(28, 'nationality was withdrawn (v2.7); use PID-26');
  pid.skip(31, 'identity unknown indicator has no Patient element');
  pid.skip(32, 'identity reliability has no Patient element');
  pid.skip(33, 'last update time is the FHIR server\'s meta.lastUpdated');
  pid.skip(34, 'last update facility has no Patient element');
  pid.skip(35, 'species applies to veterinary records only');
  if (extensions.length > 0) patient.extension = extensions;
  const ref = ctx.add(patient);
  if (account?.id !== undefined) {
    const identifier = cxToIdentifier(ctx, account);
    ctx.add({ resourceType: 'Account', id: ctx.id('Account', identifier?.system, account.id), status: 'active', ...(identifier !== undefined ? { identifier: [identifier] } : {}), subject: [ref] });
  }
  ctx.patient ??= ref;
  return ref;
}

function ombExtension(ctx: MappingContext, url: string, codes: ReturnType<SegmentReader['readAll']>, omb: ReadonlySet<string>, field: string): Extension {
  const ext: Extension[] = [];
  const texts: string[] = [];
  for (const c of codes as Array<{ code?: string; text?: string; system?: string }>) {
    if (c.code !== undefined && omb.has(c.code)) ext.push({ url: 'ombCategory', valueCoding: { system: CDC_REC, code: c.code, ...(c.text !== undefined ? { display: c.text } : {}) } });
    else if (c.code !== undefined && (c.system === 'CDCREC' || c.system === 'HL70005' || c.system === 'HL70189')) ext.push({ url: 'detailed', valueCoding: { system: CDC_REC, code: c.code, ...(c.text !== undefined ? { display: c.text } : {}) } });
    const t = c.text ?? c.code;
    if (t !== undefined) texts.push(t);
  }
  if (ext.length === 0) ctx.warn(`${field}: no OMB category code; kept as text only`);
  ext.push({ url: 'text', valueString: texts.join(', ') || 'unknown' });
  return { url, extension: ext };
}
