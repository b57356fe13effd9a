// The demo behind a bare `npm start` (issue 7), as a newcomer runs it: `switchboard start` with no
// --config starts the EHR and HL7 simulators beside the engine and wires them; `switchboard demo
// traffic` sends a mixed feed and proposes AI-drafted notes and vitals. Proves the data flows end to
// end: every message acknowledged and mapped into the canonical FHIR store, the results forwarded to
// the HL7 simulator, vitals committed to and verified in the simulated Epic, notes waiting for review.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runDemoTraffic, type DemoConnection } from '../src/cli/demo-command.ts';
import { tempDir } from './cli-helpers.ts';
import { killHard, sleep, startSwitchboard } from './engine-process-helpers.ts';

let child: ChildProcess;
let banner: string;
let dir: string;

before(async () => {
  dir = tempDir('swb-demo-');
  ({ child, output: banner } = await startSwitchboard(
    ['--host', '127.0.0.1', '--http-port', '0', '--mllp-port', '0', '--ehr-sim-port', '0', '--hl7-sim-port', '0', '--store', `sqlite:${join(dir, 'store.db')}`, '--rate-limit', '0'],
    { until: 'Stop with Ctrl+C.' },
  ));
});

after(async () => {
  await killHard(child);
});

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

test('npm start prints the console, the simulators, the one-time password and the traffic command', () => {
  assert.match(banner, /Console\s+http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(banner, /EHR simulator \(Epic\)\s+http:\/\/127\.0\.0\.1:\d+\/fhir\/R4/);
  assert.match(banner, /HL7 v2 simulator\s+mllp:\/\/127\.0\.0\.1:\d+/);
  assert.match(banner, /one-time password[^\n]*\n\s+\S{12,}/);
  assert.match(banner, /as "clinician" \(role reviewer[^\n]*\n\s+\S{12,}/);
  assert.match(banner, /npx switchboard demo traffic/);
  assert.match(banner, /Write-back\s+2 EHR\(s\): epic-sim, hl7-sim/);
});

test('demo traffic flows end to end: HL7 into the FHIR store, results to the HL7 simulator, vitals committed to the EHR, notes to review', async () => {
  const connection = JSON.parse(readFileSync(join(dir, 'demo-connection.json'), 'utf8')) as DemoConnection;
  const lines: string[] = [];
  const patients = 4;
  const result = await runDemoTraffic({ connection, patients, notes: 2, seed: 42, log: (l) => lines.push(l) });
  assert.equal(result.sent, patients * 8);
  assert.equal(result.acked, result.sent, lines.join('\n'));

  const token = await (
    await fetch(connection.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${connection.clientId}:${connection.clientSecret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&scope=system%2F*.rs',
    })
  ).json();
  const auth = { authorization: `Bearer ${(token as { access_token: string }).access_token}` };
  const get = async (path: string): Promise<Record<string, unknown>> => {
    const r = await fetch(`${connection.api}${path}`, { headers: auth });
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    return (await r.json()) as Record<string, unknown>;
  };

  // Every patient lands once in the canonical FHIR store (deterministic ids: A08 updates, not duplicates).
  await eventually('the Patients in the FHIR store', async () => {
    const bundle = await get('/fhir/R4/Patient?_summary=count');
    return bundle['total'] === patients ? true : undefined;
  });
  // Every message reached the FHIR store, and each ORU (3 per patient) the HL7 simulator.
  const summary = await eventually('every delivery', async () => {
    const s = (await get('/api/v1/metrics/summary?minutes=10')) as { channels: { perMinute: { delivered: number }[]; destinations: { name: string; queueDepth: number; failed: number }[] }[] };
    const channel = s.channels[0];
    const delivered = channel?.perMinute.reduce((n, m) => n + m.delivered, 0) ?? 0;
    return delivered >= result.sent + patients * 3 ? channel : undefined;
  });
  for (const d of summary?.destinations ?? []) assert.deepEqual([d.name, d.queueDepth, d.failed], [d.name, 0, 0]);

  // Write-back: vitals (auto policy) committed and verified in the simulated Epic; AI notes wait for a clinician.
  assert.equal(result.proposals.length, 4);
  const states = await eventually('the vitals verified', async () => {
    const list = (await get('/api/v1/writeback/proposals')) as { items: { id: string; state: string; change: { resource: { resourceType: string } }; result?: { location?: string } }[] };
    const vitals = list.items.filter((p) => p.change.resource.resourceType === 'Observation');
    return vitals.length === 2 && vitals.every((p) => p.state === 'verified') ? list.items : undefined;
  });
  const notes = states.filter((p) => p.change.resource.resourceType === 'DocumentReference');
  assert.deepEqual(notes.map((p) => p.state), ['pending_review', 'pending_review']);
  const ehrBase = /EHR simulator \(Epic\)\s+(\S+)\/fhir\/R4/.exec(banner)?.[1] ?? '';
  const writes = ((await (await fetch(`${ehrBase}/_sim/writes`)).json()) as { writes: { resourceType: string }[] }).writes;
  assert.deepEqual(writes.map((w) => w.resourceType), ['Observation', 'Observation'], 'only the vitals were written; the notes wait');

  // The printed clinician logs in, sets a password, and approves one note: it is committed to the EHR.
  const form = (fields: Record<string, string>, cookie?: string): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie === undefined ? {} : { cookie }) }, body: new URLSearchParams(fields).toString() });
  const oneTime = /as "clinician" \(role reviewer[^\n]*\n\s+(\S+)/.exec(banner)?.[1] ?? '';
  const login = await fetch(`${connection.api}/auth/login`, form({ username: 'clinician', password: oneTime }));
  assert.equal(login.status, 200);
  const changed = await fetch(`${connection.api}/auth/password`, form({ currentPassword: oneTime, newPassword: 'reviews-notes-at-night-42' }, (login.headers.get('set-cookie') ?? '').split(';')[0]));
  assert.equal(changed.status, 200, await changed.clone().text());
  const session = (changed.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const note = notes[0]?.id ?? '';
  const approved = await fetch(`${connection.api}/api/v1/writeback/proposals/${note}/approve`, { method: 'POST', headers: { cookie: session, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(approved.status, 200, await approved.clone().text());
  await eventually('the approved note verified', async () => {
    const r = await fetch(`${connection.api}/api/v1/writeback/proposals/${note}`, { headers: { cookie: session } });
    const body = (await r.json()) as { proposal: { state: string } };
    return body.proposal.state === 'verified' ? true : undefined;
  });
  const after = ((await (await fetch(`${ehrBase}/_sim/writes`)).json()) as { writes: { resourceType: string }[] }).writes;
  assert.deepEqual(after.map((w) => w.resourceType).sort(), ['DocumentReference', 'Observation', 'Observation']);
});
