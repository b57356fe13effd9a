// Prints the console's JavaScript size, gzipped, and fails above the budget of issue 7 (300 KB).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 300 * 1024;
const dir = join(import.meta.dirname, '..', 'web', 'dist', 'assets');
let raw = 0;
let gzipped = 0;
for (const name of readdirSync(dir)) {
  if (!name.endsWith('.js')) continue;
  const bytes = readFileSync(join(dir, name));
  raw += bytes.length;
  gzipped += gzipSync(bytes, { level: 9 }).length;
}
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`web console JavaScript: ${kb(raw)} raw, ${kb(gzipped)} gzipped (budget ${kb(BUDGET)})`);
if (gzipped > BUDGET) {
  console.error('the console JavaScript is over its gzipped budget');
  process.exitCode = 1;
}
