import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, runCli, tempDir, writeTemp, type CliResult } from './cli-helpers.ts';

// Messages written here for these tests (made-up people and identifiers).
const ADT = [
  'MSH|^~\\&|REG|HOSP|EHR|HOSP|20240305103000-0500||ADT^A01^ADT_A01|CONV-1|P|2.5.1',
  'EVN|A01|20240305103000-0500',
  'PID|1||MRN123^^^HOSP^MR||DOE^JANE^Q||19800101|F',
  'PV1|1|I|WARD^101^A',
].join('\r');
const UNSUPPORTED = ['MSH|^~\\&|REG|HOSP|EHR|HOSP|20240305103000||QRY^A19^QRY_A19|CONV-2|P|2.5.1', 'QRD|20240305103000|R|I|Q1'].join('\r');
const BAD_DATE = ['MSH|^~\\&|REG|HOSP|EHR|HOSP|20240305103000||ADT^A01^ADT_A01|CONV-3|P|2.5.1', 'PID|1||MRN123^^^HOSP^MR||DOE^JANE||1980130|F'].join('\r');

const dir = tempDir('swb-convert-');
const adtFile = writeTemp(dir, 'adt.hl7', `${ADT}\r`);
const twoFile = writeTemp(dir, 'two.hl7', `${ADT}\r${ADT.replace('CONV-1', 'CONV-9').replace('MRN123', 'MRN999')}\r`);
const unsupportedFile = writeTemp(dir, 'qry.hl7', UNSUPPORTED);
const badDateFile = writeTemp(dir, 'bad-date.hl7', BAD_DATE);
const tenantFile = writeTemp(dir, 'tenant.yaml', 'tenant: test-site\nidentifierSystems:\n  HOSP: urn:oid:1.2.3.4.5\n');
const badTenantFile = writeTemp(dir, 'bad-tenant.yaml', 'tenant: test-site\ncodeMaps:\n  - name: labs\n    fields: [OBX3]\n');

interface BundleLike {
  resourceType: string;
  type: string;
  entry: Array<{ fullUrl: string; resource: { resourceType: string; id: string; identifier?: Array<{ system?: string; value?: string }> }; request: { method: string; url: string } }>;
}

const patientOf = (b: BundleLike): BundleLike['entry'][number]['resource'] | undefined => b.entry.find((e) => e.resource.resourceType === 'Patient')?.resource;

/** Runs the CLI with `input` on stdin (runCli closes stdin). */
function runWithStdin(args: readonly string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchboard ${args.join(' ')} did not finish in time`));
    }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

void test('convert --to fhir prints a transaction Bundle on stdout and the text report on stderr', async () => {
  const r = await runCli(['convert', adtFile, '--to', 'fhir']);
  assert.equal(r.code, 0, r.stderr);
  const bundle = JSON.parse(r.stdout) as BundleLike;
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'transaction');
  for (const e of bundle.entry) {
    assert.equal(e.request.method, 'PUT');
    assert.equal(e.request.url, `${e.resource.resourceType}/${e.resource.id}`);
  }
  assert.deepEqual(patientOf(bundle)?.identifier?.map((i) => i.value), ['MRN123']);
  assert.match(r.stderr, /^ADT\^A01 \(ADT_A01, mapper /m);
  assert.match(r.stderr, /resources: .*Patient 1/);
  // The report names fields, never values.
  assert.doesNotMatch(r.stderr, /DOE|JANE|MRN123/);
});

void test('convert gives the same ids for the same message (deterministic), also from stdin', async () => {
  const a = await runCli(['convert', adtFile, '--to', 'fhir']);
  const b = await runWithStdin(['convert', '-', '--to', 'fhir'], `${ADT}\r`);
  assert.equal(b.code, 0, b.stderr);
  const ids = (s: string): string[] => (JSON.parse(s) as BundleLike).entry.filter((e) => e.resource.resourceType !== 'Provenance').map((e) => e.request.url);
  assert.deepEqual(ids(b.stdout), ids(a.stdout));
});

void test('convert --report json writes a machine-readable report on stderr', async () => {
  const r = await runCli(['convert', adtFile, '--to', 'fhir', '--report', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stderr) as { messageType: string; structure: string; resources: Record<string, number>; summary: { fieldsMapped: number }; segments: Array<{ segment: string }> };
  assert.equal(report.messageType, 'ADT^A01');
  assert.equal(report.structure, 'ADT_A01');
  assert.equal(report.resources['Patient'], 1);
  assert.ok(report.summary.fieldsMapped > 0);
  assert.deepEqual(
    report.segments.map((s) => s.segment),
    ['MSH', 'EVN', 'PID', 'PV1'],
  );
});

void test('convert --validate checks the Bundle against FHIR R4 and says so', async () => {
  const r = await runCli(['convert', adtFile, '--to', 'fhir', '--validate']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /validation: valid/);
  const j = await runCli(['convert', adtFile, '--to', 'fhir', '--validate', '--report', 'json']);
  assert.equal((JSON.parse(j.stderr) as { validation: { valid: boolean } }).validation.valid, true);
});

void test('convert --tenant applies the tenant identifier systems; a bad tenant file is a usage error naming the path', async () => {
  const r = await runCli(['convert', adtFile, '--to', 'fhir', '--tenant', tenantFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(patientOf(JSON.parse(r.stdout) as BundleLike)?.identifier?.map((i) => i.system), ['urn:oid:1.2.3.4.5']);
  const bad = await runCli(['convert', adtFile, '--to', 'fhir', '--tenant', badTenantFile]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /SWB_ERR_CONFIG_INVALID/);
  assert.match(bad.stderr, /codeMaps\.0\.fields\.0/);
});

void test('convert: several messages give one Bundle per line (NDJSON)', async () => {
  const r = await runCli(['convert', twoFile, '--to', 'fhir']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.deepEqual(
    lines.map((l) => patientOf(JSON.parse(l) as BundleLike)?.identifier?.[0]?.value),
    ['MRN123', 'MRN999'],
  );
});

void test('convert exits 1 with a coded, located error and prints nothing on stdout when it cannot convert (a malformed field only skips that field)', async () => {
  const unsupported = await runCli(['convert', unsupportedFile, '--to', 'fhir']);
  assert.equal(unsupported.code, 1);
  assert.equal(unsupported.stdout, '');
  assert.match(unsupported.stderr, /SWB_ERR_MAP_UNSUPPORTED_MESSAGE/);
  assert.match(unsupported.stderr, /QRY\^A19/);
  assert.match(unsupported.stderr, /MSH-10 CONV-2/);
  // A malformed field does not lose the message: it converts without that field, and the report
  // says which field and why, never the value.
  const bad = await runCli(['convert', badDateFile, '--to', 'fhir']);
  assert.equal(bad.code, 0, bad.stderr);
  assert.equal(patientOf(JSON.parse(bad.stdout) as BundleLike)?.identifier?.[0]?.value, 'MRN123');
  assert.ok(!bad.stdout.includes('birthDate'));
  assert.match(bad.stderr, /PID-7.*malformed/);
  assert.ok(!bad.stderr.includes('1980130'));
  const garbage = await runWithStdin(['convert', '-', '--to', 'fhir'], 'MSH|^~\\&|A|B\rPI|broken\r');
  assert.equal(garbage.code, 1);
  assert.match(garbage.stderr, /SWB_ERR_HL7_BAD_SEGMENT_ID/);
});

void test('convert usage errors exit 2', async () => {
  const to = await runCli(['convert', adtFile, '--to', 'xml']);
  assert.equal(to.code, 2);
  assert.match(to.stderr, /SWB_ERR_CLI_USAGE/);
  const same = await runCli(['convert', adtFile, '--from', 'hl7v2', '--to', 'hl7v2']);
  assert.equal(same.code, 2);
  const missing = await runCli(['convert', join(dir, 'nope.hl7'), '--to', 'fhir']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /SWB_ERR_IO_READ_FAILED/);
});

void test('convert --from fhir --to hl7v2 writes an HL7 v2 message (file or stdin); bad input exits 1 or 2', async () => {
  const converted = await runCli(['convert', adtFile, '--to', 'fhir']);
  const patient = patientOf(JSON.parse(converted.stdout) as BundleLike);
  const patientFile = writeTemp(dir, 'patient.json', JSON.stringify(patient));
  const r = await runCli(['convert', patientFile, '--from', 'fhir', '--to', 'hl7v2', '--type', 'ADT_A31', '--version', '2.5.1']);
  assert.equal(r.code, 0, r.stderr);
  const segments = r.stdout.trim().split('\n');
  assert.match(segments[0] ?? '', /^MSH\|\^~\\&\|.*\|ADT\^A31(\^ADT_A05)?\|.*\|2\.5\.1/);
  assert.ok(segments.some((s) => s.startsWith('PID|') && s.includes('MRN123')));
  assert.match(r.stderr, /^ADT\^A31 v2\.5\.1: \d+ elements mapped/m);
  const v23 = await runWithStdin(['convert', '-', '--from', 'fhir', '--type', 'ADT_A31', '--version', '2.3', '--report', 'json'], JSON.stringify(patient));
  assert.equal(v23.code, 0, v23.stderr);
  assert.match(v23.stdout.split('\n')[0] ?? '', /\|2\.3(\||$)/);
  assert.ok(Array.isArray((JSON.parse(v23.stderr) as { mapped: unknown }).mapped));
  const badType = await runCli(['convert', patientFile, '--from', 'fhir', '--type', 'XYZ_Q99']);
  assert.equal(badType.code, 2);
  assert.match(badType.stderr, /SWB_ERR_CLI_USAGE.*ORU_R01/);
  const notJson = await runWithStdin(['convert', '-', '--from', 'fhir'], 'not json');
  assert.equal(notJson.code, 1);
  assert.equal(notJson.stdout, '');
  assert.match(notJson.stderr, /SWB_ERR_MAP_FHIR_INPUT/);
});

void test('convert --us-core checks the produced resources against US Core on demand (a Patient without gender fails US Core 6)', async () => {
  // US Core Encounter needs a type: PV1-4 (admission type) gives it.
  const withType = ADT.replace('PV1|1|I|WARD^101^A', 'PV1|1|I|WARD^101^A|E');
  const noType = await runCli(['convert', adtFile, '--to', 'fhir', '--us-core']);
  assert.equal(noType.code, 1);
  assert.match(noType.stderr, /US Core Encounter.*type/);
  const ok = await runCli(['convert', writeTemp(dir, 'typed.hl7', `${withType}\r`), '--to', 'fhir', '--us-core']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /validation: valid \(FHIR R4 structure and US Core\)/);
  const noGender = writeTemp(dir, 'no-gender.hl7', `${withType.replace('|19800101|F', '|19800101|')}\r`);
  // Structure alone is fine: gender is optional in FHIR R4.
  assert.equal((await runCli(['convert', noGender, '--to', 'fhir', '--validate'])).code, 0);
  const bad = await runCli(['convert', noGender, '--to', 'fhir', '--us-core']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /validation: INVALID/);
  assert.match(bad.stderr, /Bundle\.entry\[\d+\]\.resource.*gender/i);
});
