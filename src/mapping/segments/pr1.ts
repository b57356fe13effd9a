import type { CodeableConcept, Coding, Encounter, Patient, Procedure, ProcedurePerformer, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, eiToIdentifier } from '../v2-datatypes.ts';
import { locationFromPl, practitionerFromXcn } from '../v2-resources.ts';
import { addMinutes, cleanCwe, readCwe, skipAll } from './adt-support.ts';

const SCT = 'http://snomed.info/sct';

export interface ProcedureContext {
  readonly patient: Reference<Patient>;
  readonly encounter?: Reference<Encounter>;
}

/**
 * PR1 -> Procedure (HL7 V2-to-FHIR IG segment map PR1[Procedure]). In ADT messages a PR1 reports a
 * procedure the patient had, so the status is completed (entered-in-error for PR1-20 "D"). The id
 * comes from PR1-19 when sent, else from the encounter (or patient), the code and the time.
 */
export function mapPr1(ctx: MappingContext, pr1: SegmentReader, context: ProcedureContext): Reference<Procedure> | undefined {
  const codeCwe = readCwe(ctx, pr1, 3, 'Procedure.code');
  const code: CodeableConcept = cweToCodeableConcept(ctx, codeCwe, { field: 'PR1-3' }) ?? {};
  const description = pr1.text(4, 'Procedure.code.text');
  if (code.text === undefined && description !== undefined) code.text = description;
  // IG PR1-16: each modifier is joined to the procedure code with ":" (e.g. CPT 99213:25).
  const modifiers = pr1.readAll(16, 'CWE', 'Procedure.code.coding').map((m) => cleanCwe(m)?.code).filter((m): m is string => m !== undefined);
  const primary = code.coding?.[0];
  if (modifiers.length > 0 && primary?.code !== undefined) {
    const modified: Coding = { ...(primary.system !== undefined ? { system: primary.system } : {}), code: [primary.code, ...modifiers].join(':') };
    code.coding = [...(code.coding ?? []), modified];
  }
  if (code.coding === undefined && code.text === undefined) {
    pr1.unuse();
    pr1.skippedWhole = 'no procedure code or description (PR1-3, PR1-4)';
    return undefined;
  }
  const identifier = eiToIdentifier(ctx, pr1.raw(19, 'Procedure.identifier'), pr1.encoding);
  const whenTs = pr1.read(5, 'TS', 'Procedure.performed[x]');
  const when = ctx.dateTime(whenTs, 'PR1-5');
  const owner = context.encounter ?? context.patient;
  const action = pr1.text(20, 'Procedure.status');
  const procedure: Procedure & { id: string } = {
    resourceType: 'Procedure',
    id: identifier !== undefined ? ctx.id('Procedure', identifier.system, identifier.value) : ctx.id('Procedure', owner.reference, codeCwe?.system, codeCwe?.code ?? description, whenTs?.raw),
    status: action?.toUpperCase() === 'D' ? 'entered-in-error' : 'completed',
    code,
    subject: context.patient,
  };
  if (identifier !== undefined) procedure.identifier = [identifier];
  if (context.encounter !== undefined) procedure.encounter = context.encounter;
  // PR1-7 minutes turn the time into a period (IG: end = PR1-5 + PR1-7).
  const minutes = pr1.read(7, 'NM', 'Procedure.performedPeriod.end');
  const end = when !== undefined && minutes !== undefined ? addMinutes(when, minutes) : undefined;
  if (when !== undefined && end !== undefined) procedure.performedPeriod = { start: when, end };
  else if (when !== undefined) procedure.performedDateTime = when;
  if (minutes !== undefined && end === undefined) ctx.warn('PR1-7: procedure minutes need a PR1-5 time with hours; not mapped');
  const category = cweToCodeableConcept(ctx, readCwe(ctx, pr1, 6, 'Procedure.category'), { field: 'PR1-6', table: '0230' });
  if (category !== undefined) procedure.category = category;
  const performers: ProcedurePerformer[] = [];
  const performerRoles: Array<[number, Coding | undefined]> = [
    [8, { system: SCT, code: '88189002', display: 'Anesthesiologist' }],
    [11, { system: SCT, code: '304292004', display: 'Surgeon' }],
    [12, undefined],
  ];
  for (const [field, fn] of performerRoles) {
    for (const xcn of pr1.readAll(field, 'XCN', 'Procedure.performer.actor')) {
      const actor = practitionerFromXcn(ctx, xcn);
      if (actor !== undefined) performers.push({ actor, ...(fn !== undefined ? { function: { coding: [fn] } } : {}) });
    }
  }
  if (performers.length > 0) procedure.performer = performers;
  const reasons = pr1.readAll(15, 'CWE', 'Procedure.reasonCode').map((c) => cweToCodeableConcept(ctx, cleanCwe(c), { field: 'PR1-15' })).filter((c) => c !== undefined);
  if (reasons.length > 0) procedure.reasonCode = reasons;
  const location = locationFromPl(ctx, pr1.raw(23, 'Procedure.location'), pr1.encoding);
  if (location !== undefined) procedure.location = location;
  const parent = eiToIdentifier(ctx, pr1.raw(25, 'Procedure.partOf'), pr1.encoding);
  if (parent !== undefined) procedure.partOf = [{ type: 'Procedure', identifier: parent }];
  pr1.skip(1, 'set id orders segments; not data');
  pr1.skip(2, 'procedure coding method was withdrawn (v2.3); PR1-3 carries its coding system');
  skipAll(pr1, [9, 10], 'anesthesia code and minutes have no Procedure element (IG PR1 map leaves them unmapped)');
  skipAll(pr1, [13, 14], 'consent code and procedure priority have no Procedure element (IG PR1 map leaves them unmapped)');
  skipAll(pr1, [17, 18, 21, 22, 24], 'DRG, tissue and respiratory data: the IG leaves them unmapped');
  return ctx.add(procedure);
}

/** The Procedure resource behind a reference (for ROL in the PROCEDURE group). */
export function procedureOf(ctx: MappingContext, ref: Reference<Procedure> | undefined): (Procedure & { id: string }) | undefined {
  return ctx.get<Procedure & { id: string }>(ref);
}
