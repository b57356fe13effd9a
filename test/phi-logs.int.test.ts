// No PHI in logs (ARCHITECTURE.md invariant 7; issue 5 "Proof": a test scans the log output of a
// full run for the test patients' names). A real engine process (`switchboard start`, the CLI that
// bin/switchboard.js runs once compiled; run here from source so that it is the code under test) on
// a temp SQLite store, logging at debug, with a channel mapping HL7 v2 to FHIR into the canonical
// store. ADT and ORU messages with distinctive names, birth dates and addresses arrive over MLLP,
// are read back through /api/v1/messages/:id and /fhir/R4 (logged in), and some requests fail on
// purpose (bad token, bad FHIR bodies, malformed HL7). Then stdout+stderr of the whole run must hold
// none of those values and none of the message bodies, and must hold the message and control ids.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { openStore } from '../src/store/open-store.ts';
import { repoRoot, tempDir } from './cli-helpers.ts';
import { freePort } from './engine-process-helpers.ts';

const ASSIGNER = 'NORTH&2.16.840.1.113883.19.5&ISO';
const ADT = [
  'MSH|^~\\&|ADT|NORTH|FHIR|SOUTH|20260101120000-0500||ADT^A01^ADT_A01|PHI-ADT-1|P|2.5.1',
  'EVN||20260101120000-0500',
  `PID|1||MRN-PHI-1^^^${ASSIGNER}^MR||ZEPHYRINE^QUILLFEATHER||19470312|F|||4417 MARIGOLDVALE RD^^PLUMTREEVILLE^MA^01234`,
  `PV1|1|I|W1^101^1||||||||||||||||V901^^^${ASSIGNER}^VN`,
].join('\r');
const ORU = [
  'MSH|^~\\&|LAB|NORTH|FHIR|SOUTH|20260101130000-0500||ORU^R01^ORU_R01|PHI-ORU-1|P|2.5.1',
  `PID|1||MRN-PHI-2^^^${ASSIGNER}^MR||BARTHOLOMEAUX^WINIFREDA||19521109|F|||88 THISTLEWICK LN^^GLIMMERFORD^MA^02111`,
  'OBR|1|ORD-PHI-1|FIL-PHI-1|2345-7^Glucose^LN|||20260101120000-0500',
  'OBX|1|NM|2345-7^Glucose^LN||182|mg/dL|70-99|H|||F|||20260101120000-0500',
].join('\r');
/** Not HL7 at all, and carrying a name: a parse failure must not echo its input into the log. */
const MALFORMED = 'HELLO ZEPHYRINE QUILLFEATHER 19470312 4417 MARIGOLDVALE RD';

/** What must never appear in the log: names, birth dates (as sent and as FHIR dates), streets, towns, bodies. */
const FORBIDDEN = [
  'ZEPHYRINE',
  'QUILLFEATHER',
  'BARTHOLOMEAUX',
  'WINIFREDA',
  '19470312',
  '1947-03-12',
  '19521109',
  '1952-11-09',
  'MARIGOLDVALE',
  'THISTLEWICK',
  'PLUMTREEVILLE',
  'GLIMMERFORD',
  'PID|1|',
  'OBX|1|',
  'MSH|^~',
  '"resourceType":"Patient"',
];

let dir: string;
let child: ChildProcess;
let output = '';
let base = '';
let mllpPort = 0;

before(async () => {
  dir = tempDir('swb-phi-logs-');
  mllpPort = await freePort();
  writeFileSync(
    join(dir, 'hl7-fhir.yaml'),
    ['id: hl7-fhir', 'source:', '  kind: mllp', `  settings: { host: 127.0.0.1, port: ${mllpPort} }`, 'orderingKey: PID-3[1].1', 'destinations:', '  - name: fhir', '    kind: fhir-store', '    transformers: [{ toFhir: { validate: true } }]', '    retry: { maxAttempts: 2, initialDelay: 20ms }'].join('\n'),
  );
  const storeUrl = `sqlite:${join(dir, 'store.db')}`;
  // A user to log in as, made before the start (the first admin's one-time password is printed).
  const seed = await openStore(storeUrl, { resourceIndexer: new FhirSearchIndexer() });
  assert.ok(seed.identity !== undefined);
  await seed.identity.createUser({ username: 'phi-admin', passwordHash: await hashPassword('phi-admin-passphrase-1'), roles: ['admin', 'operator'] });
  await seed.close();

  child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'start', '--host', '127.0.0.1', '--config', dir, '--http-port', '0', '--store', storeUrl, '--rate-limit', '0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'debug', LOG_LEVEL: 'debug' },
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine did not start: ${output}`)), 60_000);
    const check = (): void => {
      const m = /HTTP API\s+(http:\/\/\S+)/.exec(output);
      if (output.includes('Switchboard is running.') && m !== null) {
        clearTimeout(timer);
        base = m[1] as string;
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${code} before starting: ${output}`));
    });
  });
});

after(async () => {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
});

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}

test('a full run at debug level logs ids, never names, birth dates, addresses or message bodies', { timeout: 120_000 }, async () => {
  const client = new MllpClient({ host: '127.0.0.1', port: mllpPort });
  try {
    assert.equal((await client.send(ADT)).ack?.code, 'AA');
    assert.equal((await client.send(ORU)).ack?.code, 'AA');
    // Malformed input is answered (AE/AR) and must not take its text into the log.
    await client.send(MALFORMED).then(
      (r) => assert.notEqual(r.ack?.code, 'AA'),
      () => undefined,
    );
  } finally {
    await client.close();
  }

  const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: 'phi-admin', password: 'phi-admin-passphrase-1' }).toString() });
  assert.equal(login.status, 200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const get = async (url: string, headers: Record<string, string> = { cookie }): Promise<Response> => fetch(`${base}${url}`, { headers });

  // Read back through the API, logged in: message content, then FHIR (search values in the URL are PHI too).
  const page = (await (await get('/api/v1/messages?limit=10')).json()) as { items: Array<{ id: string; controlId: string | null }> };
  const stored = page.items.filter((m) => m.controlId === 'PHI-ADT-1' || m.controlId === 'PHI-ORU-1');
  assert.equal(stored.length, 2, 'both messages are stored');
  for (const m of stored) {
    const r = await get(`/api/v1/messages/${m.id}`);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /ZEPHYRINE|BARTHOLOMEAUX/, 'the content is there to be leaked');
  }
  const patient = await until('the mapped Patient is in the FHIR store', async () => {
    const r = (await (await get('/fhir/R4/Patient?family=ZEPHYRINE')).json()) as { entry?: Array<{ resource: { id: string } }> };
    return r.entry?.[0]?.resource;
  });
  assert.equal((await get(`/fhir/R4/Patient/${patient.id}`)).status, 200);
  assert.equal((await get('/fhir/R4/Patient?birthdate=1952-11-09&address=THISTLEWICK')).status, 200);
  assert.equal((await get('/fhir/R4/Observation?_count=10')).status, 200);

  // Failures on purpose: a bad token (with PHI in the URL), bad FHIR bodies, malformed HL7 over the API.
  assert.equal((await get('/fhir/R4/Patient?name=QUILLFEATHER', { authorization: 'Bearer not.a.token' })).status, 401);
  assert.equal((await get(`/api/v1/messages/${stored[0]?.id ?? ''}`, { authorization: 'Bearer not.a.token' })).status, 401);
  const post = (url: string, body: string, type: string): Promise<Response> => fetch(`${base}${url}`, { method: 'POST', headers: { cookie, 'content-type': type }, body });
  const invalid = await post('/fhir/R4/Patient', JSON.stringify({ resourceType: 'Patient', name: [{ family: 'ZEPHYRINE', given: ['QUILLFEATHER'] }], birthDate: 'MARIGOLDVALE', gender: 'QUILLFEATHER' }), 'application/fhir+json');
  assert.ok(invalid.status === 400 || invalid.status === 422, `invalid Patient: ${invalid.status}`);
  assert.equal((await post('/fhir/R4/Patient', '{"resourceType":"Patient","name":[{"family":"ZEPHYRINE"', 'application/fhir+json')).status, 400);
  assert.equal((await post('/api/v1/hl7/parse', MALFORMED, 'text/plain')).status, 400);

  // Stop cleanly (SIGTERM) so every buffered log line is written.
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;

  assert.match(output, /"level":20/, 'debug lines were logged: the scan covers the most verbose level');
  for (const value of FORBIDDEN) {
    const at = output.indexOf(value);
    assert.equal(at, -1, `the log holds ${JSON.stringify(value)}: ...${output.slice(Math.max(0, at - 200), at + 100)}...`);
  }
  for (const m of stored) assert.ok(output.includes(m.id), `the log names message ${m.id}`);
  for (const controlId of ['PHI-ADT-1', 'PHI-ORU-1']) assert.ok(output.includes(controlId), `the log names control id ${controlId}`);
});
