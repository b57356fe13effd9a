/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (so that piped output
 * and CI logs stay clean). Redraws at most every 100 ms.
 */
export class ProgressBar {
  readonly #total: number;
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  #done = 0;
  #last = 0;

  constructor(total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.#total = total;
    this.#stream = stream;
    this.#enabled = stream.isTTY === true && total > 0;
  }

  tick(label = ''): void {
    this.#done++;
    const now = Date.now();
    if (this.#enabled && (now - this.#last > 100 || this.#done === this.#total)) {
      this.#last = now;
      const width = 30;
      const filled = Math.round((this.#done / this.#total) * width);
      const pct = Math.floor((this.#done / this.#total) * 100);
      this.#stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.#done}/${this.#total} ${pct}% ${label}`.padEnd(70));
    }
  }

  finish(): void {
    if (this.#enabled) this.#stream.write('\n');
  }
}
