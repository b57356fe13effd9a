import { sameValue, type Fact, type FactKind } from './bundle-facts.ts';

/** One fact that did not match: `expected` and/or `ours` (missing has no ours, extra no expected). */
export interface FactDifference {
  readonly kind: FactKind;
  readonly key: string;
  readonly expected?: string;
  readonly ours?: string;
}

export interface FactComparison {
  readonly matched: number;
  /** Matched facts per kind. */
  readonly matchedByKind: ReadonlyMap<FactKind, number>;
  /** Same kind and key on both sides, different values. */
  readonly differing: readonly FactDifference[];
  /** In the expected bundle, not in ours. */
  readonly missing: readonly FactDifference[];
  /** In ours, not in the expected bundle. */
  readonly extra: readonly FactDifference[];
}

/** Share of expected facts we matched, 0..1 (1 when nothing was expected). */
export function matchedShare(c: Pick<FactComparison, 'matched' | 'differing' | 'missing'>): number {
  const total = c.matched + c.differing.length + c.missing.length;
  return total === 0 ? 1 : c.matched / total;
}

const groupKey = (f: Fact): string => `${f.kind}\u0000${f.key}`;

function group(facts: readonly Fact[]): Map<string, Fact[]> {
  const out = new Map<string, Fact[]>();
  for (const f of facts) {
    const k = groupKey(f);
    const list = out.get(k);
    if (list === undefined) out.set(k, [f]);
    else list.push(f);
  }
  return out;
}

/**
 * Compares two fact lists as multisets per (kind, key): equal values match (times by instant or
 * prefix, see sameValue); what is left pairs up as differing, in order; the rest of the expected
 * side is missing and the rest of ours extra.
 */
export function compareFacts(expected: readonly Fact[], ours: readonly Fact[]): FactComparison {
  const exp = group(expected);
  const our = group(ours);
  let matched = 0;
  const matchedByKind = new Map<FactKind, number>();
  const differing: FactDifference[] = [];
  const missing: FactDifference[] = [];
  const extra: FactDifference[] = [];
  for (const [k, eFacts] of exp) {
    const oFacts = [...(our.get(k) ?? [])];
    our.delete(k);
    const leftE: Fact[] = [];
    for (const e of eFacts) {
      const i = oFacts.findIndex((o) => sameValue(e.kind, e.value, o.value));
      if (i === -1) leftE.push(e);
      else {
        matched++;
        matchedByKind.set(e.kind, (matchedByKind.get(e.kind) ?? 0) + 1);
        oFacts.splice(i, 1);
      }
    }
    const pairs = Math.min(leftE.length, oFacts.length);
    for (let i = 0; i < pairs; i++) {
      const e = leftE[i] as Fact;
      differing.push({ kind: e.kind, key: e.key, expected: e.value, ours: (oFacts[i] as Fact).value });
    }
    for (const e of leftE.slice(pairs)) missing.push({ kind: e.kind, key: e.key, expected: e.value });
    for (const o of oFacts.slice(pairs)) extra.push({ kind: o.kind, key: o.key, ours: o.value });
  }
  for (const oFacts of our.values()) for (const o of oFacts) extra.push({ kind: o.kind, key: o.key, ours: o.value });
  return { matched, matchedByKind, differing, missing, extra };
}
