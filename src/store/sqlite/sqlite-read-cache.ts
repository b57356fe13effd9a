import type { StoredJson } from '../../core/ports/resource-store.ts';

/**
 * The current versions SqliteResourceStore.readJson has read, kept while their type's write mark
 * (fhir_type_marks, moved in the transaction of every version of the type written by any connection
 * or process) and this store's own count of writes of the type both stay where they were when the
 * row was read. A read by id then costs the store one statement on the tiny marks table instead of
 * the row's: measured under HTTP load, the point read of the row took ~14 us at the median (its
 * b-tree pages and the statement's state were out of the CPU caches between requests; ~4.4 us in a
 * tight loop) against ~5 us for the marks.
 *
 * Coarse on purpose: any write of a type drops every cached version of that type at its next read.
 * A type written all the time (Patients under an ADT feed) is read from the file as before, at the
 * cost of the marks statement it shares with the Consent guard (readJson's alsoMark).
 *
 * Bounded by entries and by characters of JSON (least recently read first out); a version larger
 * than a tenth of the character budget is not kept.
 */
export class SqliteReadCache {
  readonly #maxEntries: number;
  readonly #maxChars: number;
  readonly #entries = new Map<string, { readonly stored: StoredJson; readonly mark: number; readonly writes: number; readonly chars: number }>();
  #chars = 0;

  constructor(maxEntries: number, maxChars: number) {
    this.#maxEntries = Math.max(0, Math.floor(maxEntries));
    this.#maxChars = Math.max(0, Math.floor(maxChars));
  }

  /** The cached version of `key` if it was read under this mark and write count; a stale one is dropped. */
  get(key: string, mark: number, writes: number): StoredJson | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.mark !== mark || entry.writes !== writes) {
      this.#chars -= entry.chars;
      return undefined;
    }
    // Most recently read last: the first key is the one to evict.
    this.#entries.set(key, entry);
    return entry.stored;
  }

  /** Keeps what was read under `mark` and `writes` (both taken before the row was read). */
  set(key: string, stored: StoredJson, mark: number, writes: number): void {
    const chars = stored.kind === 'resource' ? stored.json.length : 0;
    if (this.#maxEntries === 0 || chars > this.#maxChars / 10) return;
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      this.#entries.delete(key);
      this.#chars -= previous.chars;
    }
    this.#entries.set(key, { stored, mark, writes, chars });
    this.#chars += chars;
    while (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const oldest = this.#entries.entries().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest[0]);
      this.#chars -= oldest[1].chars;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Characters of JSON held (tests). */
  get chars(): number {
    return this.#chars;
  }
}
