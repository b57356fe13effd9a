// PostgreSQL server CPU for the benchmarks (ingest, end to end): what the database costs per
// message, beside the engine's own CPU. The machine is shared and wall-clock rates are noisy; CPU
// time per message is the steadier figure.

import fs from 'node:fs';
import pg from 'pg';

/** CPU time (ms) of PostgreSQL server processes, read from /proc. */
export interface PgServerCpu {
  /** The backends serving the engine under test (its connections' application_name). */
  readonly backends: number;
  /** WAL writer, checkpointer, background writer: shared with anything else using the server. */
  readonly shared: number;
}

/**
 * CPU time of the PostgreSQL processes that work for the engine under test: its backends (found by
 * the application_name its connection URL carries), and apart, the server's WAL writer,
 * checkpointer and background writer, which also work for whatever else uses the server. Read from
 * /proc, so only when the server runs on this machine and its processes are visible; undefined
 * otherwise. Backends of the engine that ended before the reading are missing from it.
 */
export async function pgServerCpuMs(baseUrl: string, applicationName: string): Promise<PgServerCpu | undefined> {
  const client = new pg.Client({ connectionString: baseUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ pid: number; mine: boolean }>(
      `SELECT pid, application_name = $1 AS mine FROM pg_stat_activity
       WHERE application_name = $1 OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
      [applicationName],
    );
    const ticksPerSecond = 100; // USER_HZ: /proc/<pid>/stat counts in clock ticks (proc(5))
    let backends = 0;
    let shared = 0;
    for (const { pid, mine } of rows) {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
      if (mine) backends += ticks;
      else shared += ticks;
    }
    return rows.length === 0 ? undefined : { backends: (backends * 1000) / ticksPerSecond, shared: (shared * 1000) / ticksPerSecond };
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}
