// FHIR R4 AuditEvent records of API access, shaped after IHE Basic Audit Log Patterns (BALP 1.1):
// one per FHIR interaction (and per Bundle entry), login, logout and token request. What goes in:
// codes, ids, usernames, the client IP, the request (correlation) id, `Type/id` references and, for
// searches only, the raw query base64-encoded as BALP's entity[query] asks. The record is PHI-bearing
// and access-controlled (auditors and admins, roles.ts); nothing here is ever logged.
import type { FastifyRequest } from 'fastify';
import type { FhirResource } from '../core/ports/resource-store.ts';
import type { AuthEvent } from './auth/auth-events.ts';
import type { Principal } from './auth/roles.ts';
import type { FhirAccess } from '../fhir/fhir-interactions.ts';

import { ACT_REASON, AUDIT_EVENT_TYPE, BALP_ENTITY_TYPE, CLIENT_ID_SYSTEM, coding, DCM, ENTITY_TYPE, OBJECT_ROLE, PARTICIPATION_TYPE, RESTFUL_INTERACTION, SOURCE_TYPE, USER_ID_SYSTEM } from '../fhir/audit-event-codes.ts';

export { CLIENT_ID_SYSTEM, USER_ID_SYSTEM };

/** The subtype: a code of http://hl7.org/fhir/restful-interaction (FHIR R4 codesystem-restful-interaction). */
export type AuditInteraction =
  | 'read'
  | 'vread'
  | 'update'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'transaction'
  | 'batch'
  | 'capabilities';

/** What the FHIR routes report about one interaction (or one Bundle entry, or the Bundle itself). */
export interface FhirAuditOutcome {
  readonly interaction: AuditInteraction;
  /** The HTTP status answered (for a Bundle entry: the entry's). */
  readonly status: number;
  /** The type the interaction is on (absent: system level). */
  readonly resourceType?: string;
  /** The resource touched, when known. */
  readonly resource?: { readonly type: string; readonly id: string };
  /** The patient concerned (a Patient id), when known. */
  readonly patient?: string;
  /** A search's query string as received (PHI possible: stored base64 in the record, never logged). */
  readonly query?: string;
  /** The request broke the glass (src/api/consent.ts): purposeOfUse BTG and the reason in entity.detail. */
  readonly breakGlass?: { readonly reason: string };
}

/**
 * AuditEvent.action (FHIR R4 valueset-audit-event-action). BALP: a search is Execute (the Query
 * profiles fix action E); reads and history are R.
 */
function actionOf(interaction: AuditInteraction): 'C' | 'R' | 'U' | 'D' | 'E' {
  switch (interaction) {
    case 'create':
      return 'C';
    case 'update':
      return 'U';
    case 'delete':
      return 'D';
    case 'search-type':
    case 'search-system':
    case 'transaction':
    case 'batch':
      return 'E';
    case 'read':
    case 'vread':
    case 'history-instance':
    case 'history-type':
    case 'history-system':
    case 'capabilities':
      return 'R';
  }
}

/**
 * AuditEvent.outcome (FHIR R4 valueset-audit-event-outcome) from the HTTP status class: 0 success,
 * 4 minor failure (the client's: 4xx), 8 serious failure (ours: 5xx). 12 (major failure, the
 * process itself failed) is never answered over HTTP, so it is not produced here.
 */
export function outcomeCode(status: number): '0' | '4' | '8' | '12' {
  if (status < 400) return '0';
  if (status < 500) return '4';
  return '8';
}

/** X-Purpose-Of-Use: a code of v3-ActReason (TREAT, ETREAT, HPAYMT, ...); anything else is ignored. */
export function purposeOfUse(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const code = value?.trim().replace(/^http:\/\/terminology\.hl7\.org\/CodeSystem\/v3-ActReason\|/, '');
  return code !== undefined && /^[A-Z][A-Z0-9_-]{1,31}$/.test(code) ? code : undefined;
}


function network(ip: string | undefined): Record<string, unknown> {
  if (ip === undefined || ip === '') return {};
  // http://hl7.org/fhir/network-type 2 = IP address (FHIR R4 valueset-network-type).
  return { network: { address: ip, type: '2' } };
}

interface AgentFacts {
  readonly principal?: AuditPrincipal | undefined;
  /** When there is no principal (a refused token, a failed login): what is known. */
  readonly userId?: string | undefined;
  readonly clientId?: string | undefined;
  readonly ip?: string | undefined;
  readonly purpose?: string | undefined;
}

/**
 * BALP agents: the client application as DCM 110153 Source Role ID, the user as
 * v3-ParticipationType IRCP; `requestor` is the user when there is one, else the client. The server
 * is the observer and also DCM 110152 Destination Role ID.
 */
function agents(facts: AgentFacts, observer: string): Array<Record<string, unknown>> {
  const p = facts.principal;
  const userId = p?.kind === 'user' ? p.subject : facts.userId;
  const username = p?.kind === 'user' ? p.username : undefined;
  const clientId = p?.kind === 'client' ? (p.clientId ?? p.subject) : facts.clientId;
  const purpose = facts.purpose === undefined ? {} : { purposeOfUse: [{ coding: [coding(ACT_REASON, facts.purpose)] }] };
  const out: Array<Record<string, unknown>> = [];
  if (clientId !== undefined) {
    out.push({
      type: { coding: [coding(DCM, '110153', 'Source Role ID')] },
      who: { identifier: { system: CLIENT_ID_SYSTEM, value: clientId }, display: clientId },
      // agent.name is what the `agent-name` search parameter indexes.
      name: clientId,
      requestor: userId === undefined,
      ...network(facts.ip),
      ...(userId === undefined ? purpose : {}),
    });
  }
  if (userId !== undefined) {
    out.push({
      type: { coding: [coding(PARTICIPATION_TYPE, 'IRCP', 'information recipient')] },
      who: { identifier: { system: USER_ID_SYSTEM, value: userId }, ...(username === undefined ? {} : { display: username }) },
      ...(username === undefined ? {} : { name: username }),
      altId: userId,
      requestor: true,
      ...(clientId === undefined ? network(facts.ip) : {}),
      ...purpose,
    });
  }
  if (out.length === 0) {
    // Nobody was identified (an anonymous, refused request): the caller is still the requestor.
    out.push({ type: { coding: [coding(DCM, '110153', 'Source Role ID')] }, who: { display: 'anonymous' }, requestor: true, ...network(facts.ip) });
  }
  out.push({ type: { coding: [coding(DCM, '110152', 'Destination Role ID')] }, who: { display: observer }, requestor: false });
  return out;
}

/** BALP entity[transaction]: the X-Request-Id / X-Correlation-Id of the request. */
function transactionEntity(requestId: string): Record<string, unknown> {
  return { what: { identifier: { value: requestId } }, type: coding(BALP_ENTITY_TYPE, 'XrequestId', 'transport specific unique identifier where http X-Request-Id is used') };
}

/** BALP entity[patient]: type 1 Person, role 1 Patient. */
function patientEntity(patientId: string): Record<string, unknown> {
  return { what: { reference: `Patient/${patientId}` }, type: coding(ENTITY_TYPE, '1', 'Person'), role: coding(OBJECT_ROLE, '1', 'Patient') };
}

/** BALP entity[data]: type 2 System Object, role 4 Domain Resource. */
function dataEntity(type: string, id: string): Record<string, unknown> {
  return { what: { reference: `${type}/${id}` }, type: coding(ENTITY_TYPE, '2', 'System Object'), role: coding(OBJECT_ROLE, '4', 'Domain Resource') };
}

/** BALP entity[query]: role 24 Query, the raw search request base64-encoded (BALP Query profile). */
function queryEntity(type: string | undefined, query: string): Record<string, unknown> {
  const raw = `${type ?? ''}?${query}`;
  return { type: coding(ENTITY_TYPE, '2', 'System Object'), role: coding(OBJECT_ROLE, '24', 'Query'), query: Buffer.from(raw, 'utf8').toString('base64') };
}

function source(observer: string): Record<string, unknown> {
  // security-source-type 4 = Application Server.
  return { observer: { display: observer }, type: [coding(SOURCE_TYPE, '4', 'Application Server')] };
}

/** The parts of a Principal an AuditEvent names (agents()). */
export type AuditPrincipal = Pick<Principal, 'kind' | 'subject' | 'username' | 'clientId'>;

export interface FhirAuditInput {
  readonly requestId: string;
  readonly recorded: Date;
  readonly principal?: AuditPrincipal | Principal | undefined;
  readonly ip?: string | undefined;
  readonly purposeOfUse?: string | undefined;
  /** The type the interaction is on (absent: system level). */
  readonly resourceType?: string | undefined;
  readonly outcome: FhirAuditOutcome;
  /** This engine, as AuditEvent.source.observer. */
  readonly observer: string;
}

/** An AuditEvent for a FHIR RESTful interaction (BALP Create/Read/Update/Delete/Query patterns). */
export function fhirAuditEvent(input: FhirAuditInput): FhirResource {
  const { outcome } = input;
  const entity: Array<Record<string, unknown>> = [transactionEntity(input.requestId)];
  if (outcome.patient !== undefined) entity.push(patientEntity(outcome.patient));
  const r = outcome.resource;
  if (r !== undefined && !(r.type === 'Patient' && r.id === outcome.patient)) entity.push(dataEntity(r.type, r.id));
  if (outcome.query !== undefined && (outcome.interaction === 'search-type' || outcome.interaction === 'search-system')) entity.push(queryEntity(outcome.resourceType ?? input.resourceType, outcome.query));
  const agent = agents({ principal: input.principal, ip: input.ip, purpose: input.purposeOfUse }, input.observer);
  if (outcome.breakGlass !== undefined) markBreakGlass(agent, entity, outcome.breakGlass.reason);
  return {
    resourceType: 'AuditEvent',
    type: coding(AUDIT_EVENT_TYPE, 'rest', 'Restful Operation'),
    subtype: [coding(RESTFUL_INTERACTION, outcome.interaction)],
    action: actionOf(outcome.interaction),
    recorded: input.recorded.toISOString(),
    outcome: outcomeCode(outcome.status),
    ...(outcome.status >= 400 ? { outcomeDesc: `HTTP ${outcome.status}` } : {}),
    agent,
    source: source(input.observer),
    entity,
  };
}

/**
 * Break-glass (src/api/consent.ts): the requestor's purposeOfUse gains v3-ActReason BTG ("break the
 * glass"), and the reason given is kept in the transaction entity's detail (FHIR R4
 * AuditEvent.entity.detail, type `break-glass-reason`). The record is access-controlled; never logged.
 */
function markBreakGlass(agent: Array<Record<string, unknown>>, entity: Array<Record<string, unknown>>, reason: string): void {
  const requestor = agent.find((a) => a['requestor'] === true);
  if (requestor !== undefined) {
    const given = Array.isArray(requestor['purposeOfUse']) ? (requestor['purposeOfUse'] as unknown[]) : [];
    requestor['purposeOfUse'] = [...given, { coding: [coding(ACT_REASON, 'BTG', 'break the glass')] }];
  }
  const transaction = entity[0];
  if (transaction !== undefined) transaction['detail'] = [{ type: 'break-glass-reason', valueString: reason }];
}

/**
 * What an AuditEvent is made from, small and JSON-safe: the trail journals this on the request's
 * path and makes the resource later (audit-trail.ts). `at` is the time of the interaction (ms), which
 * becomes AuditEvent.recorded whenever the resource is made. A `resource` is an AuditEvent made
 * already (tests, and stores without a journal get the same path).
 */
export type AuditFacts =
  | {
      readonly k: 'fhir';
      readonly at: number;
      readonly requestId: string;
      readonly principal?: AuditPrincipal;
      readonly ip?: string;
      readonly purposeOfUse?: string;
      readonly resourceType?: string;
      readonly outcome: FhirAuditOutcome;
    }
  | { readonly k: 'auth'; readonly at: number; readonly event: AuthEvent }
  | { readonly k: 'resource'; readonly resource: FhirResource };

/** The facts of a FHIR interaction, with the caller taken from the request (cheap: no AuditEvent built). */
export function fhirAuditFacts(req: FastifyRequest, access: FhirAccess | undefined, outcome: FhirAuditOutcome, now: number = Date.now()): AuditFacts {
  const p = req.principal;
  const purpose = purposeOfUse(req.headers['x-purpose-of-use']);
  const resourceType = outcome.resourceType ?? (access?.resourceType === '*' ? undefined : access?.resourceType);
  return {
    k: 'fhir',
    at: now,
    requestId: String(req.id),
    ...(p === undefined ? {} : { principal: { kind: p.kind, subject: p.subject, ...(p.username === undefined ? {} : { username: p.username }), ...(p.clientId === undefined ? {} : { clientId: p.clientId }) } }),
    ...(req.ip === undefined ? {} : { ip: req.ip }),
    ...(purpose === undefined ? {} : { purposeOfUse: purpose }),
    ...(resourceType === undefined ? {} : { resourceType }),
    outcome,
  };
}

/** The AuditEvent the facts describe. */
export function auditEventOf(facts: AuditFacts, observer: string): FhirResource {
  switch (facts.k) {
    case 'fhir':
      return fhirAuditEvent({
        requestId: facts.requestId,
        recorded: new Date(facts.at),
        principal: facts.principal,
        ip: facts.ip,
        purposeOfUse: facts.purposeOfUse,
        resourceType: facts.resourceType,
        outcome: facts.outcome,
        observer,
      });
    case 'auth':
      return authAuditEvent(facts.event, observer, new Date(facts.at));
    case 'resource':
      return facts.resource;
  }
}

/**
 * The AuditEvent for an auth event (DICOM PS3.16 CID 400/401 as BALP and IHE ATNA use them): type
 * 110114 User Authentication with subtype 110122 Login / 110123 Logout. A token request is the
 * client's authentication (a login of a system), so it is recorded as a Login too; a password change
 * is 110137 User Security Attributes Changed.
 */
export function authAuditEvent(event: AuthEvent, observer: string, now: Date = new Date()): FhirResource {
  const failed = event.type === 'token.refused' || event.type === 'login.failed' || event.type === 'login.rate_limited' || event.type === 'password.change_failed';
  const isPassword = event.type === 'password.changed' || event.type === 'password.change_failed';
  const type = isPassword ? coding(DCM, '110137', 'User Security Attributes Changed') : coding(DCM, '110114', 'User Authentication');
  const subtype = isPassword ? [] : event.type === 'logout' ? [coding(DCM, '110123', 'Logout')] : [coding(DCM, '110122', 'Login')];
  return {
    resourceType: 'AuditEvent',
    type,
    ...(subtype.length === 0 ? {} : { subtype }),
    action: 'E',
    recorded: now.toISOString(),
    outcome: failed ? '4' : '0',
    // The event name and the refusal's code: no secret, token or unmatched username (auth-events.ts).
    outcomeDesc: event.code === undefined ? event.type : `${event.type} ${event.code}`,
    agent: agents({ userId: event.userId, clientId: event.clientId, ip: event.ip }, observer),
    source: source(observer),
    entity: [transactionEntity(event.requestId)],
  };
}
