import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SwitchboardError } from '../../core/errors.ts';
import { interactionOfRequest, type FhirAuditSink } from './fhir-audit-hook.ts';
import { parseTarget } from '../../fhir/fhir-interactions.ts';
import { outcomeOf } from '../../fhir/fhir-outcome.ts';
import { FHIR_JSON, FHIR_PREFIX } from './fhir-routes.ts';

/**
 * How /fhir/R4 answers a request refused before it reaches the FHIR routes (no or a bad token, an
 * expired session, a password to change first): the same status and WWW-Authenticate challenge as
 * /api/v1 (RFC 6750 3), but the body is an OperationOutcome, which is what a FHIR client reads
 * (FHIR R4 http.html#2.21.0.4 "errors": "return an OperationOutcome"; security.html). The refusal is
 * also an AuditEvent (outcome 4, minor failure) through the audit trail, when the server has one:
 * failed access attempts belong in the record (IHE BALP; FHIR R4 auditevent.html).
 */
export function fhirAuthRefusal(audit: FhirAuditSink | undefined): (req: FastifyRequest, reply: FastifyReply, error: SwitchboardError) => FastifyReply {
  return (req, reply, error) => {
    if (audit !== undefined) recordRefusal(audit, req, error.httpStatus);
    return reply.code(error.httpStatus).type(FHIR_JSON).send(JSON.stringify(outcomeOf(error)));
  };
}

function recordRefusal(audit: FhirAuditSink, req: FastifyRequest, status: number): void {
  try {
    const path = (req.url.split('?')[0] ?? '').slice(FHIR_PREFIX.length);
    const target = parseTarget(path);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const interaction = target === undefined ? undefined : interactionOfRequest(method, target);
    if (target === undefined || interaction === undefined) return;
    // No query and no patient: a refused caller learns nothing, and nothing it sent is kept.
    audit(req, undefined, { interaction, status, ...('type' in target ? { resourceType: target.type } : {}) });
  } catch {
    // A malformed path or a failing sink: auditing never changes the answer.
  }
}
