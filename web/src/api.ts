// Every call the console makes goes through here: same-origin, with the session cookie
// (credentials 'same-origin'); problem JSON (RFC 9457) becomes an ApiError carrying the stable code.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly parameter?: string,
  ) {
    super(detail === '' ? `${status} ${code}` : detail);
  }
}

type Listener = (status: 401) => void;
const listeners = new Set<Listener>();
/** The app listens for 401: the session ended (or never was), show the login. */
export function onUnauthorized(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export interface RequestOptions {
  readonly method?: string;
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Answer text instead of JSON (channel revisions are YAML). */
  readonly text?: boolean;
}

async function problemOf(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let detail = res.statusText;
  let parameter: string | undefined;
  try {
    const p = (await res.json()) as { code?: string; detail?: string; parameter?: string; issue?: { diagnostics?: string }[] };
    if (typeof p.code === 'string') code = p.code;
    if (typeof p.detail === 'string') detail = p.detail;
    else if (Array.isArray(p.issue) && typeof p.issue[0]?.diagnostics === 'string') detail = p.issue[0].diagnostics;
    if (typeof p.parameter === 'string') parameter = p.parameter;
  } catch {
    // Not JSON: keep the status text.
  }
  return new ApiError(res.status, code, detail, parameter);
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: options.text === true ? 'application/yaml, text/plain, */*' : 'application/json, application/fhir+json' };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const res = await fetch(path, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    credentials: 'same-origin',
    headers,
    ...(body === undefined ? {} : { body }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (!res.ok) {
    const error = await problemOf(res);
    if (res.status === 401 && !path.startsWith('/auth/login') && !path.startsWith('/auth/password')) for (const fn of listeners) fn(401);
    throw error;
  }
  if (res.status === 204) return undefined as T;
  return (options.text === true ? await res.text() : await res.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> => request<T>(path, signal === undefined ? {} : { signal });
export const post = <T>(path: string, body: unknown = {}): Promise<T> => request<T>(path, { method: 'POST', body });

/** A query string from the set values only. */
export function qs(params: Readonly<Record<string, string | number | undefined | null>>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s === '' ? '' : `?${s}`;
}

/** What a 403 says to a person: which role is missing, not a stack of codes. */
export function describeError(e: unknown, doing: string): string {
  if (e instanceof ApiError) {
    if (e.status === 403 && e.code === 'SWB_ERR_AUTH_PASSWORD_CHANGE_REQUIRED') return 'Change your password first.';
    if (e.status === 403) return `Your role cannot ${doing}.`;
    if (e.status === 404 && e.code === 'SWB_ERR_HTTP_NOT_FOUND') return `This engine does not offer this yet (${doing}).`;
    return `${e.detail} (${e.code})`;
  }
  if (e instanceof Error && e.name === 'AbortError') return '';
  return e instanceof Error ? e.message : String(e);
}
