import { SwitchboardError } from '../../core/errors.ts';
import type { MappingContext } from '../mapping-context.ts';

/**
 * Runs a read that may meet a malformed value (SWB_ERR_HL7_BAD_VALUE): the value is left out and a
 * warning names the field (never the value, which may be PHI), so one bad optional field does not
 * fail a whole message. Any other error propagates. SegmentReader.read/readAll already do this for
 * typed reads (and report the field skipped); this covers other reads, e.g. of the message itself.
 */
export function tolerant<T>(ctx: MappingContext, field: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (e instanceof SwitchboardError && e.code === 'SWB_ERR_HL7_BAD_VALUE') {
      ctx.warn(`${field}: malformed value not mapped`);
      return undefined;
    }
    throw e;
  }
}
