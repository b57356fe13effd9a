/**
 * What the auth routes report, for the audit trail (issue 5: every login and token is audited).
 * Ids and codes only: never a password, a secret, a token or a username that did not match a user.
 */
export type AuthEventType = 'token.issued' | 'token.refused' | 'login.succeeded' | 'login.failed' | 'login.rate_limited' | 'logout' | 'password.changed' | 'password.change_failed';

export interface AuthEvent {
  readonly type: AuthEventType;
  /** The request (correlation) id. */
  readonly requestId: string;
  readonly ip: string;
  /** A user id, when the user exists. */
  readonly userId?: string;
  /** The client id the request named (for a refused token: as claimed, not proven). */
  readonly clientId?: string;
  /** Granted scopes, for token.issued. */
  readonly scopes?: readonly string[];
  /** The SWB_ERR_AUTH_* code of a refusal. */
  readonly code?: string;
}

/** Receives events; must not throw (a failing sink is ignored, the request proceeds). */
export type AuthEventSink = (event: AuthEvent) => void | Promise<void>;

export function emit(sink: AuthEventSink | undefined, event: AuthEvent): void {
  if (sink === undefined) return;
  try {
    const r = sink(event);
    if (r instanceof Promise) r.catch(() => undefined);
  } catch {
    // The audit sink's failure is its own to report; authentication goes on.
  }
}
