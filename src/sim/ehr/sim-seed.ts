import type { SimResource } from './sim-store.ts';

/**
 * The simulator's seeded chart: three synthetic patients (no real person's data) with MRN
 * identifiers, and one encounter each. Ids are fixed so that tests and demos can name them.
 */

export const SIM_MRN_SYSTEM = 'urn:switchboard:sim:mrn';

const PATIENTS = [
  { id: 'pat-1', mrn: 'SIM0001', family: 'Simulated', given: 'Alpha', gender: 'female', birthDate: '1970-01-01' },
  { id: 'pat-2', mrn: 'SIM0002', family: 'Simulated', given: 'Bravo', gender: 'male', birthDate: '1982-06-15' },
  { id: 'pat-3', mrn: 'SIM0003', family: 'Simulated', given: 'Charlie', gender: 'other', birthDate: '1999-12-31' },
] as const;

export function seedResources(): SimResource[] {
  const out: SimResource[] = [];
  PATIENTS.forEach((p, i) => {
    out.push({
      resourceType: 'Patient',
      id: p.id,
      identifier: [
        {
          use: 'usual',
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] },
          system: SIM_MRN_SYSTEM,
          value: p.mrn,
        },
      ],
      active: true,
      name: [{ use: 'official', family: p.family, given: [p.given] }],
      gender: p.gender,
      birthDate: p.birthDate,
    });
    out.push({
      resourceType: 'Encounter',
      id: `enc-${i + 1}`,
      identifier: [{ system: 'urn:switchboard:sim:visit', value: `V${String(i + 1).padStart(4, '0')}` }],
      status: 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      subject: { reference: `Patient/${p.id}` },
      period: { start: '2024-01-01T09:00:00Z' },
    });
  });
  return out;
}
