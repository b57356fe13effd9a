// Imported first by the CLI's entry (main.ts) and by the benchmarks (bench/harness.ts), so that the
// flags are set before the program allocates in earnest (src/cli/v8-flags.ts).
import { applySwitchboardV8Flags } from './v8-flags.ts';

applySwitchboardV8Flags();
