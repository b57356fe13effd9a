// Test support for the WAL sync (sqlite-wal-sync.ts): tests hold or fail fs.fdatasync to observe
// what waits for it. Everything else (SQLite, the WAL file) stays real.
import fs from 'node:fs';

export type SyncCallback = (error: NodeJS.ErrnoException | null) => void;

export const realFdatasync = fs.fdatasync;

export interface HeldSyncs {
  readonly held: SyncCallback[];
  started: number;
  /** Runs the real sync for every held one, then calls them back (with `error` when given). */
  releaseAll(error?: NodeJS.ErrnoException): void;
}

/** Holds every fdatasync until released; counts them. Put back with `fs.fdatasync = realFdatasync`. */
export function holdSyncs(): HeldSyncs {
  let fd0 = 0;
  const state: HeldSyncs = {
    held: [],
    started: 0,
    releaseAll(error?: NodeJS.ErrnoException): void {
      const callbacks = state.held.splice(0);
      for (const cb of callbacks) realFdatasync(fd0, () => cb(error ?? null));
    },
  };
  fs.fdatasync = ((fd: number, cb: SyncCallback) => {
    fd0 = fd;
    state.started++;
    state.held.push(cb);
  }) as typeof fs.fdatasync;
  return state;
}

/** Resolves true if the promise settled within a few turns of the event loop and the thread pool. */
export async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return settled;
}

export const eio = (): NodeJS.ErrnoException => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
