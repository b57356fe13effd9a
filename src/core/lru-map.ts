// A Map bounded to its `max` most recently used keys (get and set both use a key): the caches of
// verified tokens, rate-limit buckets and Consents per patient. A Map keeps insertion order, so a key
// used is moved to the back and the front is the least recently used. The key found or set last is
// at the back already and is not moved again: a client repeats the same key (its token, its address,
// its patient) request after request, and compares equal to it without a map lookup (which would hash
// a long token string anew each time).

export class LruMap<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #max: number;
  // The key found or set last, and its value (no entry object per use).
  #hasLast = false;
  #lastKey: K | undefined;
  #lastValue: V | undefined;

  /** `max` <= 0 keeps nothing. */
  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value of `key`, which becomes the most recently used; undefined when it is not kept. */
  get(key: K): V | undefined {
    if (this.#hasLast && this.#lastKey === key) return this.#lastValue;
    if (!this.#entries.has(key)) return undefined;
    const value = this.#entries.get(key) as V;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    this.#remember(key, value);
    return value;
  }

  /** Keeps `value` for `key` as the most recently used, forgetting the least recently used beyond `max`. */
  set(key: K, value: V): void {
    if (this.#max <= 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
    this.#remember(key, value);
  }

  delete(key: K): void {
    this.#entries.delete(key);
    if (this.#hasLast && this.#lastKey === key) {
      this.#hasLast = false;
      this.#lastKey = undefined;
      this.#lastValue = undefined;
    }
  }

  #remember(key: K, value: V): void {
    this.#hasLast = true;
    this.#lastKey = key;
    this.#lastValue = value;
  }
}
