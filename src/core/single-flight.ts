/**
 * One run of an async work loop at a time (a group-commit writer, a settling loop): start() starts
 * a run unless one is in progress; when a run ends, `again()` says whether work that arrived as it
 * ended needs another. `running` is the run in progress, for a caller that waits for it.
 */
export class SingleFlight {
  readonly #loop: () => Promise<void>;
  readonly #again: () => boolean;
  #running: Promise<void> | undefined;

  constructor(loop: () => Promise<void>, again: () => boolean) {
    this.#loop = loop;
    this.#again = again;
  }

  get running(): Promise<void> | undefined {
    return this.#running;
  }

  start(): void {
    if (this.#running !== undefined) return;
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      if (this.#again()) this.start();
    });
  }
}
