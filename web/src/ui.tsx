// Small shared pieces of the console: loading state, error boxes, masked PHI, diffs, links.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError, get } from './api.ts';
import { patientOf } from './hl7-view.tsx';
import { onLinkClick } from './router.ts';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly loading: boolean;
  reload(): void;
}

/** Loads `path` (re-run when it changes, and every `refreshMs` when given). */
export function useApi<T>(path: string | undefined, doing: string, refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: path !== undefined });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    if (path === undefined) return undefined;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    get<T>(path, ctl.signal).then(
      (data) => setState({ data, error: undefined, loading: false }),
      (e: unknown) => {
        if (!ctl.signal.aborted) setState((s) => ({ data: s.data, error: describeError(e, doing), loading: false }));
      },
    );
    return () => ctl.abort();
  }, [path, tick, doing]);
  useEffect(() => {
    if (refreshMs === undefined) return undefined;
    const t = setInterval(reload, refreshMs);
    return () => clearInterval(t);
  }, [refreshMs, reload]);
  return { ...state, reload };
}

export function ErrorBox({ error }: { readonly error: string | undefined }) {
  if (error === undefined || error === '') return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export function Notice({ text }: { readonly text: string | undefined }) {
  if (text === undefined || text === '') return null;
  return (
    <p class="notice" role="status">
      {text}
    </p>
  );
}

export function Link({ to, children, class: cls }: { readonly to: string; readonly children: ComponentChildren; readonly class?: string }) {
  return (
    <a href={to} class={cls} onClick={(e) => onLinkClick(e, to)}>
      {children}
    </a>
  );
}

export const fmtTime = (iso: string | null | undefined): string => (iso === null || iso === undefined ? '—' : new Date(iso).toLocaleString());
export const fmtAge = (ms: number | null | undefined): string => {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
};

/**
 * PHI in a list is masked until the person asks for it; the reveal reads the one message through
 * GET /api/v1/messages/:id, which the engine audits (ARCHITECTURE.md invariant 7).
 */
export function MaskedPatient({ messageId }: { readonly messageId: string }) {
  const [shown, setShown] = useState<{ name: string; birthDate: string; id: string } | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  if (shown !== undefined) {
    return (
      <span class="phi">
        {shown.name || '—'} · {shown.birthDate || '—'} · {shown.id || '—'}
      </span>
    );
  }
  return (
    <span>
      <button
        type="button"
        class="linklike masked"
        aria-label="Reveal patient (audited)"
        title="Reveal patient name, birth date and id (this read is audited)"
        onClick={() => {
          get<{ content: string | null }>(`/api/v1/messages/${encodeURIComponent(messageId)}`).then(
            (m) => setShown(m.content === null ? { name: '(pruned)', birthDate: '', id: '' } : patientOf(m.content)),
            (e: unknown) => setError(describeError(e, 'read message content')),
          );
        }}
      >
        ••••• · ••••-••-•• · •••••
      </button>
      {error !== undefined && <span class="error small"> {error}</span>}
    </span>
  );
}

/** A value in a diff cell: JSON for objects. */
export const show = (v: unknown): string => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

export interface FieldChange {
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: unknown;
  readonly after?: unknown;
}

export function FieldDiff({ diff, beforeLabel = 'EHR now', afterLabel = 'Proposed' }: { readonly diff: readonly FieldChange[]; readonly beforeLabel?: string; readonly afterLabel?: string }) {
  if (diff.length === 0) return <p class="muted">No field differences.</p>;
  return (
    <table class="grid diff">
      <caption class="sr-only">Field differences</caption>
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Change</th>
          <th scope="col">{beforeLabel}</th>
          <th scope="col">{afterLabel}</th>
        </tr>
      </thead>
      <tbody>
        {diff.map((d) => (
          <tr key={d.path} class={`d-${d.kind}`}>
            <td class="mono">{d.path}</td>
            <td>{d.kind}</td>
            <td class="mono del">{show(d.before)}</td>
            <td class="mono ins">{show(d.after)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A unified diff (text) with added and removed lines coloured. */
export function UnifiedDiff({ text }: { readonly text: string }) {
  return (
    <pre class="udiff">
      {text.split('\n').map((l, i) => (
        <div key={i} class={l.startsWith('+') && !l.startsWith('+++') ? 'ins' : l.startsWith('-') && !l.startsWith('---') ? 'del' : l.startsWith('@@') ? 'hunk' : ''}>
          {l === '' ? ' ' : l}
        </div>
      ))}
    </pre>
  );
}

/** Line diff of two texts (LCS), for revisions and edited payloads. */
export function lineDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  if (n * m > 4_000_000) return `--- before (${n} lines)\n+++ after (${m} lines)\n(too large to diff in the browser)`;
  const t: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) t[i]![j] = x[i] === y[j] ? t[i + 1]![j + 1]! + 1 : Math.max(t[i + 1]![j]!, t[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push(` ${x[i]}`);
      i++;
      j++;
    } else if (t[i + 1]![j]! >= t[i]![j + 1]!) out.push(`-${x[i++]}`);
    else out.push(`+${y[j++]}`);
  }
  while (i < n) out.push(`-${x[i++]}`);
  while (j < m) out.push(`+${y[j++]}`);
  return out.join('\n');
}

/** Runs an action, keeping its pending state, its message and its error for the view. */
export function useAction(): { busy: boolean; error: string | undefined; message: string | undefined; run: (doing: string, fn: () => Promise<string | undefined>) => void; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = useCallback((doing: string, fn: () => Promise<string | undefined>) => {
    setBusy(true);
    setError(undefined);
    setMessage(undefined);
    fn().then(
      (msg) => {
        if (!mounted.current) return;
        setBusy(false);
        setMessage(msg);
      },
      (e: unknown) => {
        if (!mounted.current) return;
        setBusy(false);
        setError(describeError(e, doing));
      },
    );
  }, []);
  return { busy, error, message, run, clear: () => (setError(undefined), setMessage(undefined)) };
}

export function StatusBadge({ status }: { readonly status: string }) {
  return <span class={`badge s-${status.replace(/[^a-z_-]/gi, '')}`}>{status}</span>;
}
