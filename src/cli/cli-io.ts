import { isSwitchboardError } from '../core/errors.ts';

/** stdout carries only a command's result; everything else goes to stderr. */
export const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
export const err = (text: string): void => {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
};

/** One line for a failure: the stable code when there is one, then the located message. */
export function describeError(e: unknown): string {
  if (isSwitchboardError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
