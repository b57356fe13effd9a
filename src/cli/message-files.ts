import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SwitchboardError } from '../core/errors.ts';

/** File extensions read when a directory is given: ER7 messages as commonly named. */
const MESSAGE_FILE = /\.(hl7|er7|txt|msg|adm)$/i;

/**
 * Expands files and directories (recursively, sorted for a stable order) into the files to read.
 * A named file is always read whatever its extension; inside directories only message-like files.
 */
export function expandInputs(inputs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (MESSAGE_FILE.test(name)) out.push(p);
    }
  };
  for (const input of inputs) {
    let st;
    try {
      st = statSync(input);
    } catch (cause) {
      throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: input, reason: (cause as NodeJS.ErrnoException).code ?? 'unreadable' }, { cause });
    }
    if (st.isDirectory()) walk(input);
    else out.push(input);
  }
  return out;
}

export function readInput(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path, reason: (cause as NodeJS.ErrnoException).code ?? 'unreadable' }, { cause });
  }
}
