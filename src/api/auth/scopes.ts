/**
 * SMART on FHIR clinical scopes (SMART App Launch 2.x, scopes-and-launch-context.html).
 *
 * v2 form: `<context>/<ResourceType|*>.<c?r?u?d?s?>`, the permissions in that order, e.g.
 * `system/Observation.rs`, `user/*.cruds`, `patient/Observation.r`. v1 forms are accepted and
 * translated as the IG says: `.read` -> `.rs`, `.write` -> `.cud`, `.*` -> `.cruds`.
 *
 * Permission letters and the FHIR interactions they allow (SMART 2.x, "Scopes for requesting
 * FHIR resources"): c = create; r = read, vread, instance history; u = update (and patch);
 * d = delete; s = search, type- and system-level history.
 *
 * v2 scopes may carry query restrictions (`patient/Observation.rs?category=...`). Switchboard does
 * not enforce those yet, so it refuses to parse them rather than grant a wider access than asked.
 */

export const ScopeContext = { patient: 'patient', user: 'user', system: 'system' } as const;
export type ScopeContext = (typeof ScopeContext)[keyof typeof ScopeContext];

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
const PERMISSION_ORDER: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

export interface SmartScope {
  readonly context: ScopeContext;
  /** A FHIR resource type, or `*` for all. */
  readonly resourceType: string;
  readonly permissions: ReadonlySet<Permission>;
}

export type FhirInteraction = 'read' | 'vread' | 'search' | 'create' | 'update' | 'delete' | 'history';

export interface ScopeAccess {
  readonly interaction: FhirInteraction;
  readonly resourceType: string;
  /** For history: instance (r) or type/system (s); default instance. */
  readonly level?: 'instance' | 'type' | 'system';
  /**
   * When the access is confined to one patient's compartment (the caller has established it):
   * only then may a `patient/` scope allow it, and only for the token's own patient.
   */
  readonly compartment?: { readonly patient: string };
}

const RESOURCE_TYPE = /^(?:\*|[A-Z][A-Za-z]{1,63})$/;
const V2_PERMISSIONS = /^c?r?u?d?s?$/;

/** Parses one scope token; undefined for a scope that is not a SMART clinical scope (or not supported). */
export function parseScope(token: string): SmartScope | undefined {
  const slash = token.indexOf('/');
  const dot = token.lastIndexOf('.');
  if (slash < 0 || dot < slash) return undefined;
  const context = token.slice(0, slash);
  if (context !== 'patient' && context !== 'user' && context !== 'system') return undefined;
  const resourceType = token.slice(slash + 1, dot);
  if (!RESOURCE_TYPE.test(resourceType)) return undefined;
  const suffix = token.slice(dot + 1);
  let letters: string;
  if (suffix === 'read') letters = 'rs';
  else if (suffix === 'write') letters = 'cud';
  else if (suffix === '*') letters = 'cruds';
  else if (suffix.length > 0 && V2_PERMISSIONS.test(suffix)) letters = suffix;
  else return undefined;
  return { context, resourceType, permissions: new Set([...letters] as Permission[]) };
}

/** The v2 text of a scope (permissions in c r u d s order). */
export function formatScope(scope: SmartScope): string {
  return `${scope.context}/${scope.resourceType}.${PERMISSION_ORDER.filter((p) => scope.permissions.has(p)).join('')}`;
}

/** Splits a space-separated `scope` parameter (RFC 6749 3.3); empty items are dropped. */
export function splitScopes(value: string): string[] {
  return value.split(' ').filter((s) => s.length > 0);
}

export function parseScopes(tokens: readonly string[] | string): SmartScope[] {
  const list = typeof tokens === 'string' ? splitScopes(tokens) : tokens;
  const out: SmartScope[] = [];
  for (const t of list) {
    const s = parseScope(t);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function permissionFor(access: ScopeAccess): Permission {
  switch (access.interaction) {
    case 'read':
    case 'vread':
      return 'r';
    case 'search':
      return 's';
    case 'create':
      return 'c';
    case 'update':
      return 'u';
    case 'delete':
      return 'd';
    case 'history':
      return (access.level ?? 'instance') === 'instance' ? 'r' : 's';
  }
}

/**
 * The scopes of a frozen list (a verified token's claims, tokens.ts, shared by every request with
 * that token), parsed once: by the list's identity, which cannot change what it holds.
 */
const parsedFrozen = new WeakMap<readonly (SmartScope | string)[], readonly SmartScope[]>();

function parsedOnce(list: readonly (SmartScope | string)[]): readonly (SmartScope | string)[] {
  if (!Object.isFrozen(list)) return list;
  let parsed = parsedFrozen.get(list);
  if (parsed === undefined) {
    parsed = Object.freeze(list.map((item) => (typeof item === 'string' ? parseScope(item) : item)).filter((item) => item !== undefined));
    parsedFrozen.set(list, parsed);
  }
  return parsed;
}

/**
 * True when some scope allows the access. `context.patient` is the patient the token was issued for
 * (the `patient` launch context); a `patient/` scope allows only accesses confined to that
 * patient's compartment.
 */
export function allows(scopes: readonly (SmartScope | string)[] | string, access: ScopeAccess, context: { readonly patient?: string } = {}): boolean {
  const list = typeof scopes === 'string' ? splitScopes(scopes) : scopes;
  const needed = permissionFor(access);
  for (const item of parsedOnce(list)) {
    const s = typeof item === 'string' ? parseScope(item) : item;
    if (s === undefined) continue;
    if (!s.permissions.has(needed)) continue;
    if (s.resourceType !== '*' && s.resourceType !== access.resourceType) continue;
    if (s.context === 'patient') {
      if (context.patient === undefined || access.compartment?.patient !== context.patient) continue;
    }
    return true;
  }
  return false;
}

/**
 * The scopes to grant for a request (RFC 6749 3.3: the server may narrow what was asked).
 * Each requested SMART scope is intersected with each allowed one of the same context: the more
 * specific resource type and the common permissions (`system/*.rs` asked, `system/Observation.cruds`
 * allowed -> `system/Observation.rs`). Other scope tokens (e.g. `openid`) are granted only when
 * allowed verbatim. The result is de-duplicated and in request order.
 */
export function narrowScopes(requested: readonly string[], allowed: readonly string[]): string[] {
  const allowedParsed = parseScopes(allowed);
  const allowedPlain = new Set(allowed.filter((t) => parseScope(t) === undefined));
  const out: string[] = [];
  const push = (s: string): void => {
    if (!out.includes(s)) out.push(s);
  };
  for (const token of requested) {
    const asked = parseScope(token);
    if (asked === undefined) {
      if (allowedPlain.has(token)) push(token);
      continue;
    }
    for (const a of allowedParsed) {
      if (a.context !== asked.context) continue;
      let type: string;
      if (a.resourceType === '*') type = asked.resourceType;
      else if (asked.resourceType === '*' || asked.resourceType === a.resourceType) type = a.resourceType;
      else continue;
      const permissions = new Set([...asked.permissions].filter((p) => a.permissions.has(p)));
      if (permissions.size === 0) continue;
      push(formatScope({ context: asked.context, resourceType: type, permissions }));
    }
  }
  return out;
}
