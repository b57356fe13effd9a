// Runs the test suite with Node's built-in runner. Node 20 has no glob support in `--test`, so the
// files are found here: every *.test.ts under src/ and test/ (unit and *.int.test.ts alike).
// Extra arguments are passed through, e.g. `npm test -- --test-name-pattern=ACK`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
const files = only.length > 0 ? only : [...find('src', []), ...find('test', [])];
const reporter = process.env.CI ? ['--test-reporter=spec'] : [];
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...reporter, ...flags, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
