// Values frozen all the way down, and a record of which ones are. Object.isFrozen says nothing about
// what a frozen object holds, so the record is kept here (a WeakSet: it holds nothing alive). A
// deeply frozen value cannot change while it lives, so a fact established about it once stays true:
// the HL7 v2 mapper shares such resources between the bundles of different messages
// (MappingContext.recurring), and the FHIR validator validates each of them once
// (src/fhir/fhir-schema-validator.ts).

const DEEPLY_FROZEN = new WeakSet<object>();

/** Freezes `value` and every object reachable from it; returns `value`. */
export function deepFreeze<T>(value: T): T {
  freezeAll(value, new Set());
  return value;
}

function freezeAll(value: unknown, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null || DEEPLY_FROZEN.has(value) || seen.has(value)) return;
  seen.add(value);
  for (const member of Object.values(value)) freezeAll(member, seen);
  Object.freeze(value);
  DEEPLY_FROZEN.add(value);
}

/** True when `value` was frozen by deepFreeze (so nothing reachable from it can change). */
export function isDeeplyFrozen(value: object): boolean {
  return DEEPLY_FROZEN.has(value);
}
