/**
 * A synthetic, realistic mixed HL7 v2.5.1 feed for the demo (`switchboard demo traffic`): per
 * patient a registration (ADT^A04), an admission (A01), vitals and a lab panel (ORU^R01, LOINC-coded,
 * UCUM units, reference ranges and abnormal flags), a demographics update (A08), an appointment
 * (SIU^S12) and a discharge (A03), in that order per patient, patients interleaved as a real
 * feed is. Every person here is invented; values come from a seeded generator, so the same seed
 * gives the same feed (tests and screenshots stay stable).
 */

/** A small, fast, seeded PRNG (mulberry32): deterministic demo data, not cryptography. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAMILY = ['Okafor', 'Lindqvist', 'Marchetti', 'Nakamura', 'Oyelaran', 'Castellanos', 'Whitfield', 'Brennan', 'Haddad', 'Kowalczyk', 'Delacroix', 'Sorensen', 'Abernathy', 'Fairweather', 'Quintero', 'Valdivia'];
const GIVEN_F = ['Amara', 'Ingrid', 'Giulia', 'Yuki', 'Temitope', 'Lucia', 'Harriet', 'Siobhan', 'Leila', 'Zofia'];
const GIVEN_M = ['Chidi', 'Anders', 'Matteo', 'Haruto', 'Babajide', 'Mateo', 'Rupert', 'Declan', 'Karim', 'Tomasz'];
const STREETS = ['Juniper Row', 'Harbor View Rd', 'Old Mill Ln', 'Copperfield Ave', 'Linden Ct', 'Briar Hill Dr'];
const CITIES: readonly (readonly [string, string, string])[] = [
  ['Springfield', 'IL', '62704'],
  ['Madison', 'WI', '53703'],
  ['Portland', 'OR', '97205'],
  ['Raleigh', 'NC', '27601'],
];
const UNITS = ['MED^101^A', 'MED^102^B', 'SURG^201^A', 'CARD^301^B', 'ONC^410^A'];
const DOCTORS = ['1234567890^Ramirez^Elena^^^Dr^^^NPI', '2345678901^Chen^Wei^^^Dr^^^NPI', '3456789012^Adeyemi^Folake^^^Dr^^^NPI'];

/** LOINC code, display, UCUM unit, low, high, decimals. */
type Analyte = readonly [string, string, string, number, number, number];
const VITALS: readonly Analyte[] = [
  ['8867-4', 'Heart rate', '/min', 60, 100, 0],
  ['8480-6', 'Systolic blood pressure', 'mm[Hg]', 90, 130, 0],
  ['8462-4', 'Diastolic blood pressure', 'mm[Hg]', 60, 85, 0],
  ['8310-5', 'Body temperature', 'Cel', 36.1, 37.5, 1],
  ['2708-6', 'Oxygen saturation in Arterial blood', '%', 94, 100, 0],
  ['9279-1', 'Respiratory rate', '/min', 12, 20, 0],
];
const LABS: readonly Analyte[] = [
  ['2345-7', 'Glucose [Mass/volume] in Serum or Plasma', 'mg/dL', 70, 99, 0],
  ['2951-2', 'Sodium [Moles/volume] in Serum or Plasma', 'mmol/L', 136, 145, 0],
  ['2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 'mmol/L', 3.5, 5.1, 1],
  ['2160-0', 'Creatinine [Mass/volume] in Serum or Plasma', 'mg/dL', 0.6, 1.3, 2],
  ['718-7', 'Hemoglobin [Mass/volume] in Blood', 'g/dL', 12, 17.5, 1],
  ['6690-2', 'Leukocytes [#/volume] in Blood by Automated count', '10*3/uL', 4.5, 11, 1],
];

export interface DemoPatient {
  readonly mrn: string;
  readonly family: string;
  readonly given: string;
  readonly sex: 'F' | 'M';
  readonly birthDate: string;
}

export interface DemoMessage {
  readonly type: string;
  readonly controlId: string;
  readonly mrn: string;
  readonly text: string;
}

export interface DemoFeedOptions {
  readonly patients: number;
  readonly seed?: number;
  /** The feed's clock: message times count forward from here. */
  readonly start?: Date;
  readonly sendingFacility?: string;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** HL7 DTM with a UTC offset (HL7 v2.5.1 ch.2A 2.A.22): YYYYMMDDHHMMSS+ZZZZ. */
function dtm(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}+0000`;
}

export function demoFeed(options: DemoFeedOptions): { patients: DemoPatient[]; messages: DemoMessage[] } {
  const rnd = seededRandom(options.seed ?? 2575);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const facility = options.sendingFacility ?? 'DEMO_HOSP';
  let clock = (options.start ?? new Date()).getTime();
  let control = 0;
  const patients: DemoPatient[] = [];
  const perPatient: DemoMessage[][] = [];

  for (let p = 0; p < options.patients; p++) {
    const sex = rnd() < 0.5 ? 'F' : 'M';
    const patient: DemoPatient = {
      mrn: `MRN${pad(100000 + Math.floor(rnd() * 899999), 6)}`,
      family: pick(FAMILY),
      given: pick(sex === 'F' ? GIVEN_F : GIVEN_M),
      sex,
      birthDate: `${1935 + Math.floor(rnd() * 70)}${pad(1 + Math.floor(rnd() * 12))}${pad(1 + Math.floor(rnd() * 28))}`,
    };
    patients.push(patient);
    const [city, state, zip] = pick(CITIES);
    const address = `${100 + Math.floor(rnd() * 8900)} ${pick(STREETS)}^^${city}^${state}^${zip}^USA^H`;
    const phone = `^PRN^PH^^1^555^${pad(Math.floor(rnd() * 10000000), 7)}`;
    const visit = `V${pad(Math.floor(rnd() * 100000000), 8)}`;
    const unit = pick(UNITS);
    const doctor = pick(DOCTORS);
    const msgs: DemoMessage[] = [];
    const next = (): Date => new Date((clock += 1000 + Math.floor(rnd() * 4000)));
    const msh = (type: string, structure: string, at: Date): [string, string] => {
      const id = `DEMO${pad(++control, 7)}`;
      return [id, `MSH|^~\\&|DEMO_ADT|${facility}|SWITCHBOARD|SWITCHBOARD|${dtm(at)}||${type}^${structure}|${id}|P|2.5.1|||AL|NE`];
    };
    const pid = (family: string): string => `PID|1||${patient.mrn}^^^${facility}^MR||${family}^${patient.given}^^^^^L||${patient.birthDate}|${patient.sex}|||${address}||${phone}|||||${visit}`;
    const pv1 = (cls: string, admitAt: Date, dischargeAt?: Date): string =>
      `PV1|1|${cls}|${unit}^^^${facility}||||${doctor}|||MED||||||||${cls === 'I' ? 'IP' : 'OP'}|${visit}^^^${facility}^VN|||||||||||||||||||||||||${dtm(admitAt)}|${dischargeAt === undefined ? '' : dtm(dischargeAt)}`;
    const adt = (event: string, cls: string, family = patient.family, admitAt = new Date(clock), dischargeAt?: Date): void => {
      const at = next();
      // HL7 v2.5.1 ch.3: A01, A04 and A08 share the ADT_A01 structure; A03 has its own.
      const [id, header] = msh(`ADT^${event}`, event === 'A03' ? 'ADT_A03' : 'ADT_A01', at);
      msgs.push({ type: `ADT^${event}`, controlId: id, mrn: patient.mrn, text: [header, `EVN|${event}|${dtm(at)}`, pid(family), pv1(cls, admitAt, dischargeAt)].join('\r') });
    };
    const oru = (panel: string, panelName: string, analytes: readonly Analyte[]): void => {
      const at = next();
      const [id, header] = msh('ORU^R01', 'ORU_R01', at);
      const order = `ORD${pad(control, 7)}`;
      const obx = analytes.map(([code, name, unitCode, low, high, decimals], i) => {
        // Mostly within range, sometimes out of it: the flags (OBX-8, HL7 table 0078) follow the value.
        const spread = (high - low) * 0.35;
        const value = low - spread + rnd() * (high - low + 2 * spread);
        const flag = value < low ? 'L' : value > high ? 'H' : 'N';
        return `OBX|${i + 1}|NM|${code}^${name}^LN||${value.toFixed(decimals)}|${unitCode}^${unitCode}^UCUM|${low}-${high}|${flag}|||F|||${dtm(at)}`;
      });
      msgs.push({
        type: 'ORU^R01',
        controlId: id,
        mrn: patient.mrn,
        text: [header, pid(patient.family), pv1('I', new Date(clock)), `ORC|RE|${order}^DEMO_EHR|${order}^DEMO_LAB||CM`, `OBR|1|${order}^DEMO_EHR|${order}^DEMO_LAB|${panel}^${panelName}^LN|||${dtm(at)}|||||||||${doctor}||||||${dtm(at)}|||F`, ...obx].join('\r'),
      });
    };
    // SCH fields by number (HL7 v2.5.1 ch.10 10.6.2): 1-2 ids, 6 event reason, 7 appointment reason
    // (table 0276), 8 type (0277), 9-10 duration, 11 timing, 25 filler status (0278).
    const sch = (appt: string, start: Date): string => {
      const f: string[] = [];
      f[1] = `${appt}^DEMO_SCHED`;
      f[2] = `${appt}^DEMO_SCHED`;
      f[6] = 'BOOKED^Appointment booked';
      f[7] = 'FOLLOWUP^Follow-up visit^HL70276';
      f[8] = 'NORMAL^Routine appointment^HL70277';
      f[9] = '30';
      f[10] = 'min';
      f[11] = `^^30^${dtm(start)}^${dtm(new Date(start.getTime() + 1_800_000))}`;
      f[25] = 'Booked^Booked^HL70278';
      return ['SCH', ...Array.from({ length: 25 }, (_, k) => f[k + 1] ?? '')].join('|');
    };
    const siu = (): void => {
      const at = next();
      const [id, header] = msh('SIU^S12', 'SIU_S12', at);
      const start = new Date(at.getTime() + 7 * 86_400_000);
      const appt = `APT${pad(control, 7)}`;
      msgs.push({
        type: 'SIU^S12',
        controlId: id,
        mrn: patient.mrn,
        text: [header, sch(appt, start), pid(patient.family), `RGS|1`, `AIP|1||${doctor}|ATT`].join('\r'),
      });
    };

    const admitted = new Date(clock);
    adt('A04', 'O');
    adt('A01', 'I', patient.family, admitted);
    oru('85353-1', 'Vital signs panel', VITALS);
    oru('24323-8', 'Comprehensive metabolic panel', LABS);
    // A corrected surname in one of four: the A08 updates the same Patient (deterministic ids).
    adt('A08', 'I', rnd() < 0.25 ? `${patient.family}-${pick(FAMILY)}` : patient.family, admitted);
    oru('85353-1', 'Vital signs panel', VITALS);
    siu();
    adt('A03', 'I', patient.family, admitted, new Date(clock + 60_000));
    perPatient.push(msgs);
  }

  // Interleave: a real feed mixes patients, but each patient's own messages stay in order.
  const messages: DemoMessage[] = [];
  const cursors = perPatient.map(() => 0);
  let remaining = perPatient.reduce((n, m) => n + m.length, 0);
  while (remaining > 0) {
    const candidates = perPatient.map((m, i) => i).filter((i) => (cursors[i] ?? 0) < (perPatient[i]?.length ?? 0));
    const i = candidates[Math.floor(rnd() * candidates.length)] as number;
    const list = perPatient[i] as DemoMessage[];
    messages.push(list[cursors[i] ?? 0] as DemoMessage);
    cursors[i] = (cursors[i] ?? 0) + 1;
    remaining--;
  }
  return { patients, messages };
}
