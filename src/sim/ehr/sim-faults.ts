import { z } from 'zod';

/**
 * Fault injection for the EHR simulator: what an unreliable EHR does to a client, on command.
 *  - latency: waits `latencyMs`, then handles the request normally;
 *  - status: answers `status` (an OperationOutcome; Retry-After when `retryAfterSeconds` is set)
 *    without applying anything;
 *  - reset-after-apply: applies the write, then resets the connection with no response at all
 *    (the client cannot tell whether it was applied: the ambiguous case of ARCHITECTURE.md invariant 2);
 *  - reset-before-apply: resets the connection without applying;
 *  - stale-version: the next request carrying If-Match finds that "someone else" wrote a new version
 *    first (FHIR R4 http.html#concurrency).
 * A fault matches by `method` and `resourceType` when they are given, and is used up after `times`
 * matching requests (default 1).
 */

export const SIM_FAULT_KINDS = ['latency', 'status', 'reset-after-apply', 'reset-before-apply', 'stale-version'] as const;
export type SimFaultKind = (typeof SIM_FAULT_KINDS)[number];

export interface SimFault {
  kind: SimFaultKind;
  method?: string;
  resourceType?: string;
  latencyMs?: number;
  status?: number;
  retryAfterSeconds?: number;
  times?: number;
}

export const SimFaultSchema = z
  .object({
    kind: z.enum(SIM_FAULT_KINDS),
    method: z.string().min(1).optional(),
    resourceType: z.string().regex(/^[A-Z][A-Za-z]*$/).optional(),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    status: z.number().int().min(100).max(599).optional(),
    retryAfterSeconds: z.number().int().min(0).optional(),
    times: z.number().int().min(1).optional(),
  })
  .strict()
  .refine((f) => f.kind !== 'status' || f.status !== undefined, { message: 'a status fault needs status', path: ['status'] })
  .refine((f) => f.kind !== 'latency' || f.latencyMs !== undefined, { message: 'a latency fault needs latencyMs', path: ['latencyMs'] });

/** Validates a fault; throws a RangeError naming the field path. */
export function parseSimFault(input: unknown): SimFault {
  const r = SimFaultSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue === undefined ? '' : issue.path.map(String).join('.');
    throw new RangeError(`invalid fault${path === '' ? '' : ` at ${path}`}: ${issue?.message ?? 'invalid'}`);
  }
  const f = r.data;
  return {
    kind: f.kind,
    ...(f.method === undefined ? {} : { method: f.method.toUpperCase() }),
    ...(f.resourceType === undefined ? {} : { resourceType: f.resourceType }),
    ...(f.latencyMs === undefined ? {} : { latencyMs: f.latencyMs }),
    ...(f.status === undefined ? {} : { status: f.status }),
    ...(f.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: f.retryAfterSeconds }),
    times: f.times ?? 1,
  };
}

/** What a request looks like to the fault matcher. */
export interface FaultTarget {
  readonly method: string;
  readonly resourceType: string;
  /** Whether the request carries If-Match on an existing resource (what stale-version needs). */
  readonly ifMatch: boolean;
}

interface ArmedFault {
  readonly fault: SimFault;
  remaining: number;
}

export class SimFaults {
  #armed: ArmedFault[] = [];

  add(fault: SimFault): void {
    const parsed = parseSimFault(fault);
    this.#armed.push({ fault: parsed, remaining: parsed.times ?? 1 });
  }

  clear(): void {
    this.#armed = [];
  }

  /** The faults still armed, with what is left of `times`. */
  list(): SimFault[] {
    return this.#armed.map((a) => ({ ...a.fault, times: a.remaining }));
  }

  /** Takes (uses up once) the first armed fault that matches, in the order they were added. */
  take(target: FaultTarget): SimFault | undefined {
    const i = this.#armed.findIndex(({ fault: f }) => {
      if (f.method !== undefined && f.method !== target.method.toUpperCase()) return false;
      if (f.resourceType !== undefined && f.resourceType !== target.resourceType) return false;
      return f.kind !== 'stale-version' || target.ifMatch;
    });
    const armed = this.#armed[i];
    if (armed === undefined) return undefined;
    armed.remaining -= 1;
    if (armed.remaining <= 0) this.#armed.splice(i, 1);
    return armed.fault;
  }
}
