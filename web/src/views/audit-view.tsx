// Audit log: the engine's log of state changes (GET /api/v1/audit) and the FHIR AuditEvents of
// every access (GET /fhir/R4/AuditEvent: who saw or changed what, when, why).
import { useState } from 'preact/hooks';
import { qs } from '../api.ts';
import { ErrorBox, fmtTime, useApi } from '../ui.tsx';

interface Entry {
  readonly id: string;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly detail: Record<string, unknown> | null;
}

interface AuditEvent {
  readonly id?: string;
  readonly recorded?: string;
  readonly type?: { code?: string; display?: string };
  readonly subtype?: readonly { code?: string; display?: string }[];
  readonly action?: string;
  readonly outcome?: string;
  readonly agent?: readonly { who?: { display?: string; reference?: string; identifier?: { value?: string } }; name?: string; requestor?: boolean }[];
  readonly entity?: readonly { what?: { reference?: string } }[];
  readonly purposeOfEvent?: readonly { coding?: readonly { code?: string }[] }[];
}

interface Bundle {
  readonly total?: number;
  readonly entry?: readonly { resource?: AuditEvent }[];
}

const who = (e: AuditEvent): string => {
  const a = e.agent?.find((x) => x.requestor === true) ?? e.agent?.[0];
  return a?.who?.display ?? a?.name ?? a?.who?.reference ?? a?.who?.identifier?.value ?? '—';
};

export function AuditView() {
  const [tab, setTab] = useState<'engine' | 'fhir'>('engine');
  const [action, setAction] = useState('');
  const [target, setTarget] = useState('');
  const [applied, setApplied] = useState({ action: '', target: '' });
  const [fhirDate, setFhirDate] = useState('');
  const [fhirAgent, setFhirAgent] = useState('');
  const [fhirApplied, setFhirApplied] = useState({ date: '', agent: '' });
  const engine = useApi<{ items: readonly Entry[] }>(tab === 'engine' ? `/api/v1/audit${qs({ ...applied, limit: 200 })}` : undefined, 'read the audit log');
  const fhir = useApi<Bundle>(tab === 'fhir' ? `/fhir/R4/AuditEvent${qs({ _count: 100, _sort: '-date', date: fhirApplied.date === '' ? undefined : `ge${fhirApplied.date}`, 'agent-name': fhirApplied.agent })}` : undefined, 'read AuditEvents');

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <div role="tablist" class="tabs" aria-label="Audit sources">
        <button type="button" role="tab" aria-selected={tab === 'engine'} onClick={() => setTab('engine')}>
          Operations
        </button>
        <button type="button" role="tab" aria-selected={tab === 'fhir'} onClick={() => setTab('fhir')}>
          AuditEvents (FHIR)
        </button>
      </div>
      {tab === 'engine' ? (
        <>
          <form
            class="filters"
            onSubmit={(e) => {
              e.preventDefault();
              setApplied({ action, target });
            }}
          >
            <div class="field">
              <label for="a-action">Action</label>
              <input id="a-action" value={action} placeholder="delivery.retry" onInput={(e) => setAction(e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="a-target">Target</label>
              <input id="a-target" value={target} onInput={(e) => setTarget(e.currentTarget.value)} />
            </div>
            <div class="field actions">
              <button type="submit" class="primary">
                Search
              </button>
            </div>
          </form>
          <ErrorBox error={engine.error} />
          <div class="table-wrap">
            <table class="grid">
              <caption class="sr-only">Audit entries, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {engine.data?.items.map((e) => (
                  <tr key={e.id}>
                    <td>{fmtTime(e.at)}</td>
                    <td>{e.actor}</td>
                    <td class="mono">{e.action}</td>
                    <td class="mono small">{e.target}</td>
                    <td class="mono small">{e.detail === null ? '' : JSON.stringify(e.detail)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : (
        <>
          <form
            class="filters"
            onSubmit={(e) => {
              e.preventDefault();
              setFhirApplied({ date: fhirDate, agent: fhirAgent });
            }}
          >
            <div class="field">
              <label for="f-date">Since (date)</label>
              <input id="f-date" type="date" value={fhirDate} onInput={(e) => setFhirDate(e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="f-agent">Agent name</label>
              <input id="f-agent" value={fhirAgent} onInput={(e) => setFhirAgent(e.currentTarget.value)} />
            </div>
            <div class="field actions">
              <button type="submit" class="primary">
                Search
              </button>
            </div>
          </form>
          <ErrorBox error={fhir.error} />
          <div class="table-wrap">
            <table class="grid">
              <caption class="sr-only">AuditEvents, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Recorded</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                  <th scope="col">Action</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Entity</th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {fhir.data?.entry?.map((x, i) => {
                  const e = x.resource ?? {};
                  return (
                    <tr key={e.id ?? i}>
                      <td>{fmtTime(e.recorded)}</td>
                      <td>{who(e)}</td>
                      <td>{[e.type?.display ?? e.type?.code, ...(e.subtype ?? []).map((s) => s.display ?? s.code)].filter(Boolean).join(' / ')}</td>
                      <td>{e.action ?? ''}</td>
                      <td>{e.outcome ?? ''}</td>
                      <td class="mono small">{(e.entity ?? []).map((en) => en.what?.reference ?? '').join(', ')}</td>
                      <td>{(e.purposeOfEvent ?? []).flatMap((p) => (p.coding ?? []).map((c) => c.code ?? '')).join(', ')}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
