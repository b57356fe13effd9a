import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept } from '../v2-datatypes.ts';
import type { ImmunizationDraft } from './rxa.ts';

/**
 * RXR -> Immunization.route and .site (HL7 V2-to-FHIR IG segment map RXR[Immunization]; the
 * RouteOfAdministration and BodyParts concept maps are kept as sent, with the table 0162 / 0163
 * system assumed when RXR-1.3 / RXR-2.3 are empty).
 */
export function mapRxr(ctx: MappingContext, rxr: SegmentReader, imm: ImmunizationDraft): void {
  const route = cweToCodeableConcept(ctx, rxr.read(1, 'CWE', 'Immunization.route'), { field: 'RXR-1', table: '0162' });
  if (route !== undefined) imm.route = route;
  const site = cweToCodeableConcept(ctx, rxr.read(2, 'CWE', 'Immunization.site'), { field: 'RXR-2', table: '0163' });
  if (site !== undefined) imm.site = site;
  rxr.skip(3, 'administration device has no Immunization element (IG leaves it unmapped)');
  rxr.skip(4, 'administration method has no Immunization element (IG leaves it unmapped)');
  rxr.skip(5, 'routing instruction has no Immunization element (IG leaves it unmapped)');
  rxr.skip(6, 'administration site modifier has no Immunization element (IG leaves it unmapped)');
}
