// Strings of the mapped Bundle built flat, once.
//
// V8 represents a string of 13 characters or more made by `+` or a template literal as a rope of
// its parts (a "cons string") until something needs its characters in one piece. The validator
// runs a regular expression (the R4 schema's `pattern` of id, uri, string, ...) over every string
// of the Bundle, and the first one run over a rope copies it into one piece first. A Bundle carries
// several such strings per resource (ids, `urn:uuid:` fullUrls, `Type/id` references and request
// urls, code and identifier systems), each validated once, right after the mapping: measured on
// freshly converted bundles (bench/convert-bench.ts), flattening them was about a fifth of
// validating an ADT^A01 (87 -> 67 us). Array.prototype.join writes its result as one flat string;
// it costs the mapper a little more than `+` (about 5 us per ADT) and saves validation more
// (measured: `+`, with the strings shared all the same, gave 5-8% more map + validate). Strings that recur across messages (system URIs) are also made
// once and shared (JoinCache), so they are built and scanned once per process, not per message.

/** `${a}${sep}${b}` as a flat string: `Patient/<id>`, `urn:uuid:<id>`. */
export function flatJoin2(a: string, sep: string, b: string): string {
  return [a, b].join(sep);
}

/** `a + sep + b + sep + ... + e` as a flat string (a UUID from its five groups). */
export function flatJoin5(a: string, b: string, c: string, d: string, e: string, sep: string): string {
  return [a, b, c, d, e].join(sep);
}

/**
 * `a + sep + b` (b percent-encoded when asked), flat, one string per (a, b) for the process: the
 * system URIs of a feed's assigning authorities and applications recur in every message. Bounded:
 * cleared when full (a hostile feed could send any number of distinct values).
 */
export class JoinCache {
  readonly #sep: string;
  readonly #encode: boolean;
  readonly #byA = new Map<string, Map<string, string>>();
  readonly #limit: number;
  #size = 0;

  constructor(sep: string, options: { readonly encodeURIComponent?: boolean; readonly limit?: number } = {}) {
    this.#sep = sep;
    this.#encode = options.encodeURIComponent === true;
    this.#limit = options.limit ?? JOIN_CACHE_LIMIT;
  }

  get(a: string, b: string): string {
    let byB = this.#byA.get(a);
    if (byB === undefined) this.#byA.set(a, (byB = new Map()));
    let out = byB.get(b);
    if (out === undefined) {
      out = flatJoin2(a, this.#sep, this.#encode ? encodeURIComponent(b) : b);
      if (this.#size >= this.#limit) {
        this.#byA.clear();
        this.#size = 0;
        this.#byA.set(a, (byB = new Map()));
      }
      byB.set(b, out);
      this.#size++;
    }
    return out;
  }
}

const JOIN_CACHE_LIMIT = 5000;
