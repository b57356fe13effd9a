import type { RecentMessage } from './http-api.ts';

/** A bounded ring of recent message summaries (ids only), for the API's listener view. */
export class RecentMessages {
  readonly #items: RecentMessage[] = [];
  readonly #capacity: number;

  constructor(capacity = 500) {
    this.#capacity = capacity;
  }

  add(item: RecentMessage): void {
    this.#items.push(item);
    if (this.#items.length > this.#capacity) this.#items.splice(0, this.#items.length - this.#capacity);
  }

  list(): readonly RecentMessage[] {
    return this.#items;
  }
}
