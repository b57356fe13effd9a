import { allows, type ScopeAccess } from './scopes.ts';

/**
 * Roles for people (and, optionally, clients on `/api/v1`), and the one decision every route asks:
 * `can(principal, action)`.
 *
 * - admin: everything, except signing write-backs (separation of duties: a clinician signs).
 * - operator: runs the engine: channels, messages, exceptions, replay; reads FHIR data.
 * - reviewer (clinician): reviews and signs write-back proposals; reads FHIR data.
 * - auditor: reads the audit trail (and AuditEvent/Provenance) and what is configured; no PHI
 *   beyond that.
 * - read-only: looks at channels, message summaries, exceptions and FHIR data; changes nothing.
 */
export const Role = {
  admin: 'admin',
  operator: 'operator',
  reviewer: 'reviewer',
  auditor: 'auditor',
  readOnly: 'read-only',
} as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES: readonly Role[] = Object.values(Role);

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** What can be done on `/api/v1`, area by area. */
export const ApiAction = {
  channelsRead: 'channels:read',
  channelsDeploy: 'channels:deploy',
  /** Summaries: ids, types, statuses; no content. */
  messagesSearch: 'messages:search',
  /** One message with its content (PHI). */
  messagesRead: 'messages:read',
  messagesRetry: 'messages:retry',
  messagesResolve: 'messages:resolve',
  exceptionsRead: 'exceptions:read',
  exceptionsResolve: 'exceptions:resolve',
  replayRun: 'replay:run',
  writebackRead: 'writeback:read',
  /** Approve, reject or sign a write-back proposal. */
  writebackReview: 'writeback:review',
  /** Propose a write-back (apps, AI agents with a role, admins, operators). */
  writebackPropose: 'writeback:propose',
  /** Retry, resolve or close a write-back in the exception queue. */
  writebackOperate: 'writeback:operate',
  auditRead: 'audit:read',
  metricsRead: 'metrics:read',
  usersRead: 'users:read',
  usersManage: 'users:manage',
  clientsManage: 'clients:manage',
} as const;
export type ApiAction = (typeof ApiAction)[keyof typeof ApiAction];
export const API_ACTIONS: readonly ApiAction[] = Object.values(ApiAction);

/** An FHIR interaction on the canonical store. */
export interface FhirAction {
  readonly fhir: ScopeAccess;
}
export type Action = ApiAction | FhirAction;

/** Who is calling: resolved by authenticate.ts from a bearer token or a session cookie. */
export interface Principal {
  readonly kind: 'user' | 'client';
  /** The user id or the client id. */
  readonly subject: string;
  readonly username?: string;
  readonly clientId?: string;
  /** Unknown role names have been dropped. */
  readonly roles: readonly Role[];
  /** Scopes granted to a token; absent for a session (its roles alone decide). */
  readonly scopes?: readonly string[];
  /** The patient launch context a `patient/` scope is bound to. */
  readonly patient?: string;
  readonly via: 'token' | 'session';
  readonly mustChangePassword?: boolean;
}

const A = ApiAction;
const API_GRANTS: Readonly<Record<Role, ReadonlySet<ApiAction>>> = {
  admin: new Set(API_ACTIONS.filter((a) => a !== A.writebackReview)),
  operator: new Set([A.channelsRead, A.channelsDeploy, A.messagesSearch, A.messagesRead, A.messagesRetry, A.messagesResolve, A.exceptionsRead, A.exceptionsResolve, A.replayRun, A.writebackRead, A.writebackPropose, A.writebackOperate, A.metricsRead]),
  reviewer: new Set([A.writebackRead, A.writebackReview, A.metricsRead]),
  auditor: new Set([A.channelsRead, A.messagesSearch, A.writebackRead, A.auditRead, A.metricsRead, A.usersRead]),
  'read-only': new Set([A.channelsRead, A.messagesSearch, A.exceptionsRead, A.metricsRead]),
};

/** The record of access itself: only auditors (and admins) read it. */
const AUDIT_TYPES: ReadonlySet<string> = new Set(['AuditEvent', 'Provenance']);
const READ_INTERACTIONS: ReadonlySet<ScopeAccess['interaction']> = new Set(['read', 'vread', 'search', 'history']);

function roleAllowsFhir(role: Role, access: ScopeAccess): boolean {
  const reading = READ_INTERACTIONS.has(access.interaction);
  switch (role) {
    case 'admin':
      return true;
    case 'operator':
    case 'reviewer':
    case 'read-only':
      return reading && !AUDIT_TYPES.has(access.resourceType);
    case 'auditor':
      return reading && AUDIT_TYPES.has(access.resourceType);
  }
}

/**
 * The one authorization decision.
 * - `/api/v1` actions: some role of the principal grants it (a client with no roles gets none).
 * - FHIR interactions: a token's granted scopes must allow it (SMART); a person must also hold a
 *   role that allows it. A session (no scopes) is decided by roles alone; a client token (no
 *   roles) by scopes alone.
 */
export function can(principal: Principal, action: Action): boolean {
  if (principal.mustChangePassword === true) return false;
  if (typeof action === 'string') return principal.roles.some((r) => API_GRANTS[r].has(action));
  const access = action.fhir;
  if (principal.scopes !== undefined) {
    const context = principal.patient === undefined ? {} : { patient: principal.patient };
    if (!allows(principal.scopes, access, context)) return false;
    if (principal.kind === 'client' && principal.roles.length === 0) return true;
  }
  return principal.roles.some((r) => roleAllowsFhir(r, access));
}

/** Names the action for an error message (no values). */
export function describeAction(action: Action): string {
  return typeof action === 'string' ? action : `${action.fhir.interaction} ${action.fhir.resourceType}`;
}

/**
 * Who may break the glass (X-Break-Glass: read through a Consent deny, src/api/consent.ts): admins
 * and reviewers (clinicians), by default. An emergency read by a person who may read FHIR data; a
 * client with no roles never may (HL7 v3-ActReason BTG is a person's act).
 */
export const BREAK_GLASS_ROLES: readonly Role[] = [Role.admin, Role.reviewer];

/** Whether the principal holds one of the roles allowed to break the glass (default BREAK_GLASS_ROLES). */
export function mayBreakGlass(principal: Principal, allowed: readonly Role[] = BREAK_GLASS_ROLES): boolean {
  if (principal.mustChangePassword === true) return false;
  return principal.roles.some((r) => allowed.includes(r));
}
