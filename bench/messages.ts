// Benchmark messages. Entirely synthetic: the names, identifiers, addresses and results below
// were made up for this file and belong to no one. Segments are CR-terminated (the last one too),
// as they arrive over MLLP.

const CR = '\r';

/**
 * ADT^A01 (admit), about 1.7 KB: MSH, EVN, PID (three PID-3 identifiers, escapes in name,
 * address and identifiers), PD1, NK1 x2, PV1, PV2, AL1 x2, DG1 x2, IN1, GT1 and a Z-segment.
 * PV1-17 is the admitting doctor, PV1-19 the visit number and PV1-20 the financial class (until
 * 2026-11-25 a missing field separator put each of them one field early: the visit number was read
 * as the patient type).
 */
export const ADT_A01: string =
  [
    'MSH|^~\\&|SWB_REGADT|NORTHWIND_GEN|SWB_ENGINE|NORTHWIND_GEN|20240312081530.123-0500||ADT^A01^ADT_A01|ADT20240312081530001|P|2.5.1|||AL|NE|USA|UNICODE UTF-8',
    'EVN|A01|20240312081500-0500|||REGCLK07^Okafor^Ngozi|20240312081000-0500',
    'PID|1||NW00482915^^^NORTHWIND_GEN^MR^NORTHWIND_GEN~999-01-2345^^^SSA^SS~K7Q\\T\\2241-88^^^ST MARY\\T\\JOSEPH HIE^PI^SMJ_HIE||TESTPERSON^Alexandra^Q\\S\\R^^^^L||19780214|F||2106-3^White^CDCREC|742 Evergreen Terrace\\F\\Apt 3B^Unit \\T\\ Rear^Springfield^IL^62704^USA^H||^PRN^PH^^1^217^5550143||EN|M|CHR|AC20240312-4471^^^NORTHWIND_GEN^AN|||N',
    'PD1|||NORTHWIND FAMILY PRACTICE^^10442|1234567893^Greenleaf^Morgan^T^^^MD',
    'NK1|1|TESTPERSON^Jordan^P|SPO^Spouse^HL70063|742 Evergreen Terrace^Apt 3B^Springfield^IL^62704|^PRN^PH^^1^217^5550144||EC',
    'NK1|2|RIVERA-TESTPERSON^Camila|MTH^Mother^HL70063|88 Lakeview Dr^^Decatur^IL^62521|^PRN^PH^^1^217^5550177',
    'PV1|1|I|4WEST^412^B^NORTHWIND_GEN||||1497759866^Adebayo^Tunde^K^^^MD|||MED|||7||||1497759866^Adebayo^Tunde^K^^^MD|IP|VN20240312-77812^^^NORTHWIND_GEN^VN|BCBS',
    'PV2|||R10.9^Abdominal pain^I10|||||20240315||3',
    'AL1|1|DA|70618^Penicillin^RXNORM|SV|Anaphylaxis \\T\\ hives|20010615',
    'AL1|2|FA|256349002^Peanut^SCT|MO|Urticaria|20150302',
    'DG1|1||R10.9^Unspecified abdominal pain^I10|||A|||||||||1',
    'DG1|2||E11.9^Type 2 diabetes mellitus without complications^I10|||W|||||||||2',
    'IN1|1|BCBSPPO^Blue Cross PPO^L|60054|BLUE CROSS OF ILLINOIS|PO Box 805107^^Chicago^IL^60680||^WPN^PH^^1^800^5550100|GRP-448812|NORTHWIND LOGISTICS|||20240101|20241231|||TESTPERSON^Alexandra^Q|SEL|19780214',
    'GT1|1|G-00918|TESTPERSON^Alexandra^Q||742 Evergreen Terrace^Apt 3B^Springfield^IL^62704|^PRN^PH^^1^217^5550143||19780214|F||SEL|999-01-2345',
    'ZPI|1|VIP^N|INTERPRETER^N|PORTAL^Y^20240110|FALLRISK^MOD^Morse 45',
  ].join(CR) + CR;

interface LabTest {
  readonly loinc: string;
  readonly name: string;
  readonly value: string;
  readonly units: string;
  readonly range: string;
  readonly flag: string;
}

// [LOINC, name, value, units, reference range, abnormal flag]
const LAB_ROWS: ReadonlyArray<readonly [string, string, string, string, string, string]> = [
  ['2345-7', 'Glucose', '98', 'mg/dL', '70-99', 'N'],
  ['3094-0', 'Urea nitrogen', '14', 'mg/dL', '7-20', 'N'],
  ['2160-0', 'Creatinine', '0.92', 'mg/dL', '0.57-1.00', 'N'],
  ['33914-3', 'eGFR', '78', 'mL/min/{1.73_m2}', '>59', 'N'],
  ['2951-2', 'Sodium', '139', 'mmol/L', '134-144', 'N'],
  ['2823-3', 'Potassium', '5.3', 'mmol/L', '3.5-5.2', 'H'],
  ['2075-0', 'Chloride', '101', 'mmol/L', '96-106', 'N'],
  ['2028-9', 'Carbon dioxide', '24', 'mmol/L', '20-29', 'N'],
  ['17861-6', 'Calcium', '9.4', 'mg/dL', '8.7-10.2', 'N'],
  ['2885-2', 'Protein', '7.1', 'g/dL', '6.0-8.5', 'N'],
  ['1751-7', 'Albumin', '4.4', 'g/dL', '3.8-4.9', 'N'],
  ['1975-2', 'Bilirubin total', '0.6', 'mg/dL', '0.0-1.2', 'N'],
  ['1968-7', 'Bilirubin direct', '0.15', 'mg/dL', '0.00-0.40', 'N'],
  ['6768-6', 'Alkaline phosphatase', '88', 'U/L', '44-121', 'N'],
  ['1920-8', 'AST', '52', 'U/L', '0-40', 'H'],
  ['1742-6', 'ALT', '61', 'U/L', '0-32', 'H'],
  ['2324-2', 'GGT', '38', 'U/L', '0-60', 'N'],
  ['2532-0', 'LDH', '190', 'U/L', '119-226', 'N'],
  ['2157-6', 'Creatine kinase', '132', 'U/L', '32-182', 'N'],
  ['2777-1', 'Phosphate', '3.6', 'mg/dL', '2.8-4.1', 'N'],
  ['19123-9', 'Magnesium', '2.0', 'mg/dL', '1.6-2.3', 'N'],
  ['3084-1', 'Urate', '5.8', 'mg/dL', '2.5-7.1', 'N'],
  ['6690-2', 'Leukocytes', '11.8', '10*3/uL', '3.4-10.8', 'H'],
  ['789-8', 'Erythrocytes', '4.21', '10*6/uL', '3.77-5.28', 'N'],
  ['718-7', 'Hemoglobin', '12.6', 'g/dL', '11.1-15.9', 'N'],
  ['4544-3', 'Hematocrit', '38.2', '%', '34.0-46.6', 'N'],
  ['787-2', 'MCV', '91', 'fL', '79-97', 'N'],
  ['785-6', 'MCH', '29.9', 'pg', '26.6-33.0', 'N'],
  ['786-4', 'MCHC', '33.0', 'g/dL', '31.5-35.7', 'N'],
  ['788-0', 'RDW', '13.4', '%', '11.7-15.4', 'N'],
  ['777-3', 'Platelets', '288', '10*3/uL', '150-450', 'N'],
  ['751-8', 'Neutrophils', '8.9', '10*3/uL', '1.4-7.0', 'H'],
  ['731-0', 'Lymphocytes', '1.9', '10*3/uL', '0.7-3.1', 'N'],
  ['742-7', 'Monocytes', '0.7', '10*3/uL', '0.1-0.9', 'N'],
  ['711-2', 'Eosinophils', '0.2', '10*3/uL', '0.0-0.4', 'N'],
  ['704-7', 'Basophils', '0.1', '10*3/uL', '0.0-0.2', 'N'],
  ['2093-3', 'Cholesterol', '212', 'mg/dL', '100-199', 'H'],
  ['2571-8', 'Triglyceride', '160', 'mg/dL', '0-149', 'H'],
  ['2085-9', 'HDL cholesterol', '48', 'mg/dL', '>39', 'N'],
  ['13457-7', 'LDL cholesterol calc', '132', 'mg/dL', '0-99', 'H'],
  ['4548-4', 'Hemoglobin A1c', '6.9', '%', '4.8-5.6', 'H'],
  ['3016-3', 'TSH', '2.14', 'u[IU]/mL', '0.450-4.500', 'N'],
  ['3024-7', 'Free T4', '1.21', 'ng/dL', '0.82-1.77', 'N'],
  ['2498-4', 'Iron', '72', 'ug/dL', '27-159', 'N'],
  ['2500-7', 'TIBC', '318', 'ug/dL', '250-450', 'N'],
  ['2276-4', 'Ferritin', '64', 'ng/mL', '15-150', 'N'],
  ['2132-9', 'Vitamin B12', '512', 'pg/mL', '232-1245', 'N'],
  ['2284-8', 'Folate', '14.2', 'ng/mL', '>3.0', 'N'],
  ['1988-5', 'C reactive protein', '18.4', 'mg/L', '0.0-4.9', 'H'],
  ['4537-7', 'ESR', '28', 'mm/h', '0-32', 'N'],
  ['10839-9', 'Troponin I', '0.01', 'ng/mL', '0.00-0.04', 'N'],
  ['30934-4', 'BNP', '42', 'pg/mL', '0-100', 'N'],
  ['5902-2', 'Prothrombin time', '12.1', 's', '9.1-12.0', 'H'],
  ['6301-6', 'INR', '1.1', '{INR}', '0.9-1.2', 'N'],
];

const LAB_TESTS: readonly LabTest[] = LAB_ROWS.map(([loinc, name, value, units, range, flag]) => ({ loinc, name, value, units, range, flag }));

// ST/TX results; several carry escapes so that decoding (or not) is visible.
const TEXT_RESULTS: ReadonlyArray<readonly [string, string, string, string]> = [
  ['ST', '5778-6', 'Color of Urine', 'Yellow'],
  ['ST', '5767-9', 'Appearance of Urine', 'Slightly cloudy'],
  ['ST', '32167-9', 'Clarity of Urine', 'Clear \\T\\ pale'],
  ['TX', '8251-1', 'Service comment', 'Specimen received 08:10, slightly hemolyzed.\\.br\\Potassium may be falsely elevated; recollect if clinically indicated.'],
  ['TX', '11529-5', 'Pathology comment', 'Peripheral smear reviewed: neutrophilia without left shift\\F\\ no blasts seen.\\.br\\Reviewed by Dr. Okonkwo-Testfield (synthetic).'],
  ['ST', '33882-2', 'Collection site', 'L antecubital \\S\\ venipuncture'],
];

function obx(setId: number, type: string, code: string, name: string, value: string, units: string, range: string, flag: string): string {
  return [
    'OBX',
    String(setId),
    type,
    `${code}^${name}^LN^${code.replace('-', '')}^${name}^L`,
    '',
    value,
    units === '' ? '' : `${units}^${units}^UCUM`,
    range,
    flag,
    '',
    '',
    'F',
    '',
    '',
    '20240312074500-0500',
    'NWLAB^Core Lab^L',
    'TECH0421^Mbeki^Lerato',
    'COBAS^c702^L',
    '20240312091245-0500',
  ].join('|');
}

function buildOru(): string {
  const head = [
    'MSH|^~\\&|SWB_LIS|NORTHWIND_LAB|SWB_ENGINE|NORTHWIND_GEN|20240312091300-0500||ORU^R01^ORU_R01|LAB20240312091300042|P|2.5.1|||AL|NE|USA|UNICODE UTF-8',
    'PID|1||NW00482915^^^NORTHWIND_GEN^MR^NORTHWIND_GEN~999-01-2345^^^SSA^SS||TESTPERSON^Alexandra^Q^^Dr^^L||19780214|F|||742 Evergreen Terrace^Apt 3B^Springfield^IL^62704^USA^H||^PRN^PH^^1^217^5550143|||||AC20240312-4471^^^NORTHWIND_GEN^AN',
    'PV1|1|I|4WEST^412^B^NORTHWIND_GEN||||1497759866^Adebayo^Tunde^K^^^MD^^NPPES^L^^^NPI||||||||||||VN20240312-77812^^^NORTHWIND_GEN^VN',
    'ORC|RE|ORD448120^SWB_CPOE|LAB7781204^NWLAB||CM||||20240312073000-0500|||1497759866^Adebayo^Tunde^K^^^MD^^NPPES^L^^^NPI',
    'OBR|1|ORD448120^SWB_CPOE|LAB7781204^NWLAB|24323-8^Comprehensive metabolic and CBC panel^LN|||20240312074500-0500|||||||20240312080500-0500||1497759866^Adebayo^Tunde^K^^^MD^^NPPES^L^^^NPI||||||20240312091245-0500|||F',
    'NTE|1|L|Fasting specimen per patient report.',
  ];
  const body: string[] = [];
  let setId = 0;
  for (const t of LAB_TESTS) body.push(obx(++setId, 'NM', t.loinc, t.name, t.value, t.units, t.range, t.flag));
  for (const [type, code, name, value] of TEXT_RESULTS) {
    body.push(obx(++setId, type, code, name, value, '', '', ''));
    if (type === 'TX') body.push(`NTE|${setId}|L|Comment attached to OBX ${setId}; see report.`);
  }
  return [...head, ...body].join(CR) + CR;
}

/** ORU^R01, about 12 KB: MSH, PID, PV1, ORC, OBR, NTE, 60 OBX (54 NM, 6 ST/TX) and 2 more NTE. */
export const ORU_R01: string = buildOru();

export interface BenchMessage {
  readonly name: string;
  readonly text: string;
}

export const MESSAGES: readonly BenchMessage[] = [
  { name: 'ADT^A01', text: ADT_A01 },
  { name: 'ORU^R01', text: ORU_R01 },
];

export function describeMessages(): string {
  return MESSAGES.map((m) => {
    const segments = m.text.split(CR).filter((s) => s !== '').length;
    const obxCount = m.text.split(CR).filter((s) => s.startsWith('OBX|')).length;
    return `${m.name}: ${Buffer.byteLength(m.text)} bytes, ${segments} segments${obxCount > 0 ? `, ${obxCount} OBX` : ''}`;
  }).join('\n');
}

/**
 * The identifying values of each benchmark message: its own control id (MSH-10), MRN and SSN
 * (PID-3, GT1-12), account (PID-18), visit number (PV1-19), guarantor number (GT1-2), the third
 * PID-3 identifier, and the placer and filler order numbers (ORC-2/3, OBR-2/3). They feed the
 * deterministic resource ids (src/mapping/fhir-ids.ts), so a message repeated with the same ones
 * only ever hits the mapper's id cache; a feed brings new patients, visits and orders.
 */
export const ADT_A01_ID_TOKENS: readonly string[] = ['ADT20240312081530001', 'NW00482915', '999-01-2345', 'AC20240312-4471', 'VN20240312-77812', 'G-00918', '2241-88'];
export const ORU_R01_ID_TOKENS: readonly string[] = ['LAB20240312091300042', 'NW00482915', '999-01-2345', 'AC20240312-4471', 'VN20240312-77812', 'ORD448120', 'LAB7781204'];

/**
 * `count` variants of a message, each with its own identifying values: every digit of each token
 * is replaced, so a variant is as long as the original (the parse costs the same) and the same
 * token gets the same new value everywhere it occurs in a variant (the SSN in PID-3 and GT1-12).
 * Clinicians, facilities, codes and the segment sequence stay as they are, as in one sender's
 * feed. Deterministic: variant i is the same on every run.
 */
export function messageVariants(text: string, tokens: readonly string[], count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let variant = text;
    tokens.forEach((token, t) => {
      // A different digit stream per variant and token (a small LCG), not a counter that leaves
      // most digits as they were.
      let state = (Math.imul(i + 1, 2654435761) ^ Math.imul(t + 1, 40503)) >>> 0;
      const replaced = token.replace(/\d/g, () => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        return String((state >>> 16) % 10);
      });
      variant = variant.split(token).join(replaced);
    });
    out.push(variant);
  }
  return out;
}
