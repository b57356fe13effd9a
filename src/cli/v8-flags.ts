import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags the switchboard process sets for itself, first thing (docs/adr/0013-v8-pretenuring-off.md).
 *
 * `--no-allocation-site-pretenuring`: V8 watches which object and array literals' objects survive
 * a young-generation collection and, past a threshold, allocates that literal's objects straight in
 * the old generation. A message conversion is alive only while it runs, but a collection that falls
 * in the middle of one sees all of its objects alive; some literals of the mapper and the report
 * were then moved to the old generation for good, where every later message's objects of that kind
 * died, uncollected until a full collection, keeping the young objects they pointed to alive through
 * every young collection (and promoted in turn). Measured on the ORU^R01 with 60 OBX, converted and
 * validated in a loop: 870-960 us of CPU per message with V8's default, 730-800 without; the young
 * collections promoted ~0.7-2.6 MB each. Parse, the ADT^A01 and the end-to-end engine were the same
 * either way.
 */
export const SWITCHBOARD_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** `--no-allocation-site-pretenuring` -> `allocation-site-pretenuring` (V8 reads `_` as `-`). */
function flagName(flag: string): string {
  return flag.replace(/^--(no-)?/, '').replace(/=.*$/s, '').replaceAll('_', '-');
}

/**
 * The flags of SWITCHBOARD_V8_FLAGS to set in a process started with `execArgv`: those its command
 * line does not decide already, so `node --allocation-site-pretenuring bin/switchboard.js ...`
 * keeps V8's default.
 */
export function v8FlagsToSet(execArgv: readonly string[]): string[] {
  const given = new Set(execArgv.filter((a) => a.startsWith('--')).map(flagName));
  return SWITCHBOARD_V8_FLAGS.filter((flag) => !given.has(flagName(flag)));
}

/** Sets the flags (v8FlagsToSet of this process); returns the ones set. */
export function applySwitchboardV8Flags(): string[] {
  const flags = v8FlagsToSet(process.execArgv);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
