import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { SwitchboardError } from '../core/errors.ts';
import { MllpClient } from '../mllp/mllp-client.ts';
import { err, out } from './cli-io.ts';
import { demoFeed } from './demo-feed.ts';
import { ProgressBar } from './progress-bar.ts';

/**
 * What `switchboard start` (the demo) leaves in its data directory for `switchboard demo traffic`:
 * where to send, and a client that may propose write-backs. Written with mode 0600: it holds a
 * client secret (a demo's, on the local machine).
 */
export interface DemoConnection {
  readonly mllp: { readonly host: string; readonly port: number };
  readonly api: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The EHR simulator's seeded patients the AI notes are about, and the EHR's configured name. */
  readonly ehr: string;
  readonly ehrPatients: readonly string[];
}

export const DEMO_CONNECTION_FILE = 'demo-connection.json';

interface TrafficOptions {
  connection: string;
  patients: string;
  notes: string;
  seed: string;
}

function count(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: name, reason: `must be an integer >= ${min}, got ${JSON.stringify(value)}` });
  return n;
}

function readConnection(file: string): DemoConnection {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: '--connection', reason: `${file} is missing: start the demo first with "npm start" (it writes that file)` });
  }
  return JSON.parse(text) as DemoConnection;
}

async function token(conn: DemoConnection): Promise<string> {
  const r = await fetch(conn.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${conn.clientId}:${conn.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs' }).toString(),
  });
  if (!r.ok) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'demo client', reason: `the token endpoint answered ${r.status}: is the engine that wrote the connection file still running?` });
  return ((await r.json()) as { access_token: string }).access_token;
}

/** A short progress note, as an AI scribe would draft it (invented content; no real patient). */
function draftNote(i: number, patient: string): Record<string, unknown> {
  const topics = ['Follow-up after admission for community-acquired pneumonia', 'Post-operative day 2 review', 'Diabetes management visit', 'Heart failure medication titration'];
  const text = `${topics[i % topics.length] ?? 'Progress note'}.\nSubjective: patient reports improvement since the last visit.\nAssessment and plan: continue current treatment; review labs in one week.\n(Drafted by an AI scribe; to be reviewed and signed by a clinician.)`;
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    docStatus: 'preliminary',
    type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
    category: [{ coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note', display: 'Clinical Note' }] }],
    subject: { reference: patient },
    date: new Date().toISOString(),
    content: [{ attachment: { contentType: 'text/plain', data: Buffer.from(text).toString('base64') } }],
  };
}

/** A vitals observation from a bedside app: the demo policy commits these without review. */
function vitals(i: number, patient: string): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: patient },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value: 64 + (i % 20), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

async function propose(conn: DemoConnection, bearer: string, body: Record<string, unknown>): Promise<{ id: string; state: string }> {
  const r = await fetch(`${conn.api}/api/v1/writeback/proposals`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: JSON.stringify(body) });
  const answer = (await r.json()) as { id?: string; state?: string; code?: string; detail?: string };
  if (r.status !== 200 && r.status !== 201) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'proposal', reason: `${r.status} ${answer.code ?? ''} ${answer.detail ?? ''}` });
  return { id: answer.id ?? '', state: answer.state ?? '' };
}

export async function runDemoTraffic(options: { connection: DemoConnection; patients: number; notes: number; seed: number; log?: (line: string) => void }): Promise<{ sent: number; acked: number; proposals: { id: string; state: string }[] }> {
  const { connection: conn } = options;
  const log = options.log ?? out;
  const feed = demoFeed({ patients: options.patients, seed: options.seed });
  const client = new MllpClient({ host: conn.mllp.host, port: conn.mllp.port, poolSize: 4, ackTimeoutMs: 15_000 });
  const bar = new ProgressBar(feed.messages.length);
  let acked = 0;
  try {
    // Four connections at once, each patient's messages in order on one of them: the engine keeps
    // per-patient order by its ordering key, but a demo should not lean on that to look right.
    const lanes = new Map<number, typeof feed.messages>();
    feed.messages.forEach((m) => {
      const lane = [...m.mrn].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % 4;
      lanes.set(lane, [...(lanes.get(lane) ?? []), m]);
    });
    await Promise.all(
      [...lanes.values()].map(async (lane) => {
        for (const m of lane) {
          const reply = await client.send(m.text);
          if (reply.ack?.code === 'AA' || reply.ack?.code === 'CA') acked++;
          bar.tick(m.type);
        }
      }),
    );
  } finally {
    bar.finish();
    await client.close();
  }
  log(`Sent ${feed.messages.length} HL7 v2 messages for ${feed.patients.length} patients to mllp://${conn.mllp.host}:${conn.mllp.port}: ${acked} acknowledged.`);

  const proposals: { id: string; state: string }[] = [];
  if (options.notes > 0) {
    const bearer = await token(conn);
    for (let i = 0; i < options.notes; i++) {
      const patient = conn.ehrPatients[i % conn.ehrPatients.length] ?? 'Patient/pat-1';
      proposals.push(
        await propose(conn, bearer, {
          ehr: conn.ehr,
          patient,
          change: { kind: 'create', resource: draftNote(i, patient) },
          actor: { kind: 'agent', model: 'demo-scribe', modelVersion: '2026.11' },
          purposeOfUse: 'TREAT',
          idempotencyKey: `demo-note-${options.seed}-${i}`,
        }),
      );
      proposals.push(
        await propose(conn, bearer, {
          ehr: conn.ehr,
          patient,
          change: { kind: 'create', resource: vitals(i, patient) },
          purposeOfUse: 'TREAT',
          idempotencyKey: `demo-vitals-${options.seed}-${i}`,
        }),
      );
    }
    const byState = new Map<string, number>();
    for (const p of proposals) byState.set(p.state, (byState.get(p.state) ?? 0) + 1);
    log(`Proposed ${options.notes} AI-drafted notes and ${options.notes} vitals to ${conn.ehr}: ${[...byState].map(([s, n]) => `${n} ${s}`).join(', ')}.`);
    log(`Review the notes in the console (Write-back) as a user with the reviewer role.`);
  }
  return { sent: feed.messages.length, acked, proposals };
}

export function registerDemoCommands(program: Command): void {
  const demo = program.command('demo').description('the out-of-the-box demo (started by `npm start`)');
  demo
    .command('traffic')
    .description('send a realistic mixed HL7 v2 feed (ADT, ORU vitals and labs, SIU) to the running demo, and propose a few AI-drafted notes for review')
    .option('--connection <file>', 'the connection file the demo engine wrote', `./data/${DEMO_CONNECTION_FILE}`)
    .option('--patients <n>', 'how many patients (8 messages each)', '25')
    .option('--notes <n>', 'AI-drafted notes (and vitals) to propose', '3')
    .option('--seed <n>', 'seed of the generated data (same seed, same feed)', String(Date.now() % 100000))
    .action(async (opts: TrafficOptions) => {
      const connection = readConnection(opts.connection);
      await runDemoTraffic({ connection, patients: count('--patients', opts.patients, 1), notes: count('--notes', opts.notes, 0), seed: count('--seed', opts.seed, 0), log: (l) => err(l) });
    });
}
