#!/usr/bin/env node
// The package's bin: runs the compiled CLI. `npm ci` builds dist/ through the `prepare` script.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('switchboard: dist/ is missing; run `npm ci` (or `npm run build`) first\n');
  process.exit(2);
}
await import(entry.href);
