// Which buttons a role sees. The server decides (every action is checked again there, and a 403 is
// shown as "your role cannot ..."); this mirrors src/api/auth/roles.ts so that a person is not
// offered what they cannot do. Keep the two in step.

export type Role = 'admin' | 'operator' | 'reviewer' | 'auditor' | 'read-only';

export type Action =
  | 'channels:read'
  | 'channels:deploy'
  | 'messages:search'
  | 'messages:read'
  | 'messages:retry'
  | 'messages:resolve'
  | 'exceptions:read'
  | 'exceptions:resolve'
  | 'replay:run'
  | 'writeback:read'
  | 'writeback:review'
  | 'writeback:operate'
  | 'audit:read'
  | 'metrics:read';

const ALL: readonly Action[] = [
  'channels:read',
  'channels:deploy',
  'messages:search',
  'messages:read',
  'messages:retry',
  'messages:resolve',
  'exceptions:read',
  'exceptions:resolve',
  'replay:run',
  'writeback:read',
  'writeback:review',
  'writeback:operate',
  'audit:read',
  'metrics:read',
];

const GRANTS: Readonly<Record<Role, ReadonlySet<Action>>> = {
  // Separation of duties: an admin does not sign write-backs; a clinician (reviewer) does.
  admin: new Set(ALL.filter((a) => a !== 'writeback:review')),
  operator: new Set<Action>([
    'channels:read',
    'channels:deploy',
    'messages:search',
    'messages:read',
    'messages:retry',
    'messages:resolve',
    'exceptions:read',
    'exceptions:resolve',
    'replay:run',
    'writeback:read',
    'writeback:operate',
    'metrics:read',
  ]),
  reviewer: new Set<Action>(['writeback:read', 'writeback:review', 'metrics:read']),
  auditor: new Set<Action>(['channels:read', 'messages:search', 'writeback:read', 'audit:read', 'metrics:read']),
  'read-only': new Set<Action>(['channels:read', 'messages:search', 'exceptions:read', 'metrics:read']),
};

export interface Me {
  readonly kind: 'user' | 'client';
  readonly subject: string;
  readonly username?: string;
  readonly roles: readonly string[];
  readonly mustChangePassword: boolean;
}

export function can(me: Me | undefined, action: Action): boolean {
  if (me === undefined || me.mustChangePassword) return false;
  return me.roles.some((r) => r in GRANTS && GRANTS[r as Role].has(action));
}
