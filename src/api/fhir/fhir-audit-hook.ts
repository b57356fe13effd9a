// What the FHIR routes tell the audit trail (issue 5 "Audit"; IHE BALP): for each request, which
// interaction ran on what, for whom, with which HTTP status; for a Bundle, one report per entry plus
// one for the Bundle. Also the rule that AuditEvents are never written through the API. Pure: the
// sink (src/api/audit-trail.ts) builds and stores the AuditEvent.
import type { FastifyRequest } from 'fastify';
import { isSwitchboardError, SwitchboardError } from '../../core/errors.ts';
import type { FhirAuditOutcome, AuditInteraction } from '../audit-events.ts';
import { parseTarget, type FhirAccess, type FhirResult, type FhirTarget } from '../../fhir/fhir-interactions.ts';

export type FhirAuditSink = (req: FastifyRequest, access: FhirAccess | undefined, outcome: FhirAuditOutcome) => void;

/** Types whose records are the audit trail itself: written by the engine only (never via /fhir/R4). */
const AUDIT_RECORD_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

/**
 * Refuses create/update/delete of an AuditEvent, whoever asks (an audit record that its subject
 * could edit proves nothing: FHIR R4 auditevent.html#notes, ATNA). Called before authorization.
 */
export function refuseAuditRecordWrite(access: FhirAccess): void {
  if (!AUDIT_RECORD_TYPES.has(access.resourceType)) return;
  const method = access.interaction === 'create' ? 'POST' : access.interaction === 'update' ? 'PUT' : access.interaction === 'delete' ? 'DELETE' : undefined;
  if (method !== undefined) throw new SwitchboardError('SWB_ERR_FHIR_METHOD_NOT_ALLOWED', { method, path: `${access.resourceType} (audit records are written by the server only)` });
}

const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/;

/** The patient a resource is about: itself, or its `subject` / `patient` reference to a Patient. */
export function patientOf(resource: unknown): string | undefined {
  if (typeof resource !== 'object' || resource === null) return undefined;
  const r = resource as Record<string, unknown>;
  if (r['resourceType'] === 'Patient') return typeof r['id'] === 'string' ? r['id'] : undefined;
  for (const key of ['patient', 'subject', 'beneficiary']) {
    const ref = (r[key] as { reference?: unknown } | undefined)?.reference;
    if (typeof ref === 'string') {
      const m = PATIENT_REF.exec(ref);
      if (m !== null) return m[1];
    }
  }
  return undefined;
}

/** The restful-interaction code of a request (undefined: not audited, e.g. the open CapabilityStatement). */
export function interactionOfRequest(method: string, target: FhirTarget): AuditInteraction | undefined {
  switch (target.kind) {
    case 'metadata':
    case 'system':
      return undefined;
    case 'system-history':
      return 'history-system';
    case 'type-history':
      return 'history-type';
    case 'instance-history':
      return 'history-instance';
    case 'version':
      return 'vread';
    case 'type-search':
      return 'search-type';
    case 'type':
      return method === 'GET' ? 'search-type' : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'DELETE' ? 'delete' : undefined;
    case 'instance':
      return method === 'GET' ? 'read' : method === 'PUT' ? 'update' : method === 'DELETE' ? 'delete' : undefined;
  }
}

function typeOf(target: FhirTarget): string | undefined {
  return 'type' in target ? target.type : undefined;
}

/** `Type/id/_history/n` (a result's location) as type and id. */
function fromLocation(location: unknown): { type: string; id: string } | undefined {
  if (typeof location !== 'string') return undefined;
  const m = /^(?:.*\/)?([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]*)?$/.exec(location);
  return m === null ? undefined : { type: m[1] as string, id: m[2] as string };
}

function touched(target: FhirTarget, body: unknown, location: unknown): { type: string; id: string } | undefined {
  if (target.kind === 'instance' || target.kind === 'version' || target.kind === 'instance-history') return { type: target.type, id: target.id };
  const loc = fromLocation(location);
  if (loc !== undefined) return loc;
  if (typeof body === 'object' && body !== null) {
    const b = body as { resourceType?: unknown; id?: unknown };
    if (typeof b.resourceType === 'string' && b.resourceType !== 'Bundle' && typeof b.id === 'string') return { type: b.resourceType, id: b.id };
  }
  return undefined;
}

interface OutcomeFacts {
  readonly interaction: AuditInteraction;
  readonly status: number;
  readonly target: FhirTarget;
  readonly access: FhirAccess | undefined;
  readonly requestBody: unknown;
  readonly resultBody: unknown;
  readonly location: unknown;
  readonly query: URLSearchParams | undefined;
}

function outcomeOf(f: OutcomeFacts): FhirAuditOutcome {
  const resource = touched(f.target, f.resultBody, f.location);
  const patient =
    f.access?.compartment?.patient ??
    (resource?.type === 'Patient' ? resource.id : undefined) ??
    (f.interaction === 'search-type' ? undefined : (patientOf(f.resultBody) ?? patientOf(f.requestBody)));
  const resourceType = typeOf(f.target);
  const q = f.interaction === 'search-type' && f.query !== undefined ? f.query.toString() : undefined;
  return {
    interaction: f.interaction,
    status: f.status,
    ...(resourceType === undefined ? {} : { resourceType }),
    ...(resource === undefined ? {} : { resource }),
    ...(patient === undefined ? {} : { patient }),
    ...(q === undefined ? {} : { query: q }),
  };
}

/** The HTTP status a thrown error answers with (fhir-routes.ts's error handler). */
function statusOf(error: unknown): number {
  return isSwitchboardError(error) ? error.httpStatus : 500;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * One request's audit: the routes call `begin` once the target is known, `authorized` from the
 * authorize hook (the first access is the interaction's), then `done`, `bundleDone` or `failed`.
 * A sink that throws is ignored: auditing never fails a request.
 */
export class FhirRequestAudit {
  #method = '';
  #target: FhirTarget | undefined;
  #query: URLSearchParams | undefined;
  #body: unknown;
  #access: FhirAccess | undefined;
  #breakGlass: string | undefined;
  #reported = false;

  constructor(
    private readonly req: FastifyRequest,
    private readonly sink: FhirAuditSink,
  ) {}

  begin(method: string, target: FhirTarget, query: URLSearchParams, body: unknown): void {
    this.#method = method;
    this.#target = target;
    this.#query = query;
    this.#body = body;
  }

  /** The request broke the glass (X-Break-Glass, src/api/consent.ts): every report of it carries the reason. */
  breakGlass(reason: string): void {
    this.#breakGlass = reason;
  }

  authorized(access: FhirAccess): void {
    this.#access ??= access;
  }

  done(result: FhirResult): void {
    this.#report(result.status, result.body, result.location);
  }

  /** A Bundle answered: one report per entry (its own status), then one for the Bundle. */
  bundleDone(response: unknown): void {
    const entries = isObject(response) && Array.isArray(response['entry']) ? (response['entry'] as unknown[]) : [];
    this.#entries((i) => {
      const e = entries[i];
      const r = isObject(e) && isObject(e['response']) ? e['response'] : undefined;
      const status = Number.parseInt(String(r?.['status'] ?? ''), 10);
      return { status: Number.isFinite(status) ? status : 200, body: isObject(e) ? e['resource'] : undefined, location: r?.['location'] };
    });
    this.#report(200, undefined, undefined);
  }

  failed(error: unknown): void {
    const status = statusOf(error);
    // A failed transaction kept nothing: every entry is recorded with the Bundle's failure.
    if (this.#target?.kind === 'system' && this.#method === 'POST') this.#entries(() => ({ status, body: undefined, location: undefined }));
    this.#report(status, undefined, undefined);
  }

  #report(status: number, body: unknown, location: unknown): void {
    if (this.#reported || this.#target === undefined) return;
    this.#reported = true;
    const target = this.#target;
    let interaction = interactionOfRequest(this.#method, target);
    if (target.kind === 'system' && this.#method === 'POST') {
      const type = isObject(this.#body) ? this.#body['type'] : undefined;
      interaction = type === 'batch' ? 'batch' : 'transaction';
    }
    if (interaction === undefined) return;
    const isBundle = interaction === 'transaction' || interaction === 'batch';
    const access = isBundle ? undefined : this.#access;
    this.#emit(access, outcomeOf({ interaction, status, target, access, requestBody: isBundle ? undefined : this.#body, resultBody: body, location, query: this.#query }));
  }

  #entries(result: (index: number) => { status: number; body: unknown; location: unknown }): void {
    const entries = isObject(this.#body) && Array.isArray(this.#body['entry']) ? (this.#body['entry'] as unknown[]) : [];
    entries.forEach((entry, index) => {
      const request = isObject(entry) && isObject(entry['request']) ? entry['request'] : undefined;
      const method = typeof request?.['method'] === 'string' ? (request['method'] === 'HEAD' ? 'GET' : request['method']) : '';
      const url = typeof request?.['url'] === 'string' ? request['url'].replace(/^https?:\/\/[^?]*?\/fhir\/R4\//, '') : '';
      const q = url.indexOf('?');
      let target: FhirTarget | undefined;
      try {
        target = parseTarget(q === -1 ? url : url.slice(0, q));
      } catch {
        target = undefined;
      }
      const interaction = target === undefined ? undefined : interactionOfRequest(method, target);
      if (target === undefined || interaction === undefined) return;
      const r = result(index);
      const query = q === -1 ? new URLSearchParams() : new URLSearchParams(url.slice(q + 1));
      this.#emit(undefined, outcomeOf({ interaction, status: r.status, target, access: undefined, requestBody: isObject(entry) ? entry['resource'] : undefined, resultBody: r.body, location: r.location, query }));
    });
  }

  #emit(access: FhirAccess | undefined, outcome: FhirAuditOutcome): void {
    try {
      this.sink(this.req, access, this.#breakGlass === undefined ? outcome : { ...outcome, breakGlass: { reason: this.#breakGlass } });
    } catch {
      // The audit sink's failure is its own to count; the request goes on.
    }
  }
}
