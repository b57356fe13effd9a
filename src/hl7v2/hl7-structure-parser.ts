import type { Hl7Message } from './hl7-message.ts';
import type { Hl7Segment } from './hl7-segment.ts';
import {
  resolveStructure,
  structureFor,
  structureVersion,
  type MessageStructure,
  type StructureElement,
  type StructureGroup,
  type StructureResolution,
  type StructureSegment,
} from './hl7-structures.ts';

/**
 * Groups a message's segments by its structure (HL7 v2.5.1 ch.2 2.12), the way HL7 receivers do:
 * greedily, left to right, each segment going to the first place the structure allows after the
 * previous one. Nothing is dropped or reordered: Z-segments and segments that fit nowhere are kept
 * where they appear, inside the group of the segment before them, and marked.
 */

/** How a segment got its place: by the structure, as a Z-segment, or as one that fits nowhere. */
export type SegmentPlacement = 'expected' | 'z' | 'unexpected' | 'unchecked';

/** Why an unexpected segment fits nowhere. */
export type PlacementProblem = 'repeated' | 'out-of-order' | 'not-in-structure';

export interface Hl7SegmentNode {
  readonly kind: 'segment';
  readonly name: string;
  readonly segment: Hl7Segment;
  /** 0-based position in `msg.segments`. */
  readonly index: number;
  readonly placement: SegmentPlacement;
  /** For an unexpected segment: why it fits nowhere. */
  readonly problem: PlacementProblem | undefined;
  /** The structure element it matched (undefined unless placement is 'expected'). */
  readonly element: StructureSegment | undefined;
}

export interface Hl7GroupNode {
  readonly kind: 'group';
  /** Group name (ORDER_OBSERVATION); the root carries the structure id. */
  readonly name: string;
  /** 1-based repetition of this group within its parent. */
  readonly repetition: number;
  readonly element: StructureGroup;
  readonly children: readonly Hl7TreeNode[];
}

export type Hl7TreeNode = Hl7SegmentNode | Hl7GroupNode;

export interface Hl7MessageTree {
  /** The structure used, or undefined when the message's type is not described. */
  readonly structure: MessageStructure | undefined;
  readonly resolution: StructureResolution;
  /** The version whose structure was used (see structureVersion). */
  readonly version: string;
  readonly root: Hl7GroupNode;
  /** Segments that fit nowhere, in message order (they are also in the tree). */
  readonly unexpected: readonly Hl7SegmentNode[];
}

export interface GroupOptions {
  /** Use this structure id instead of the one MSH-9 gives. */
  readonly structure?: string;
  /** Use this version instead of MSH-12.1. */
  readonly version?: string;
}

interface MutableGroup {
  kind: 'group';
  name: string;
  repetition: number;
  element: StructureGroup;
  children: Hl7TreeNode[];
}

interface Frame {
  readonly group: StructureGroup;
  readonly node: MutableGroup;
  /** Index in group.children of the element matched last; -1 before any. */
  pos: number;
}

/**
 * A place for a segment: starting at frame `level`, the child index there, then the child indexes
 * inside each newly opened group down to the segment element. `strong` when every group opened
 * on the way is entered at a required element (see `choose`).
 */
interface Candidate {
  readonly level: number;
  readonly path: readonly number[];
  readonly strong: boolean;
}

type SearchMode = 'start' | 'anywhere';

const startCache = new WeakMap<StructureGroup, ReadonlySet<string>>();
const containsCache = new WeakMap<StructureGroup, ReadonlySet<string>>();

/** Segment ids that can open an instance of a group: those up to and including its first required element. */
export function startIds(group: StructureGroup): ReadonlySet<string> {
  let hit = startCache.get(group);
  if (hit === undefined) {
    const ids = new Set<string>();
    for (const c of group.children) {
      for (const id of c.kind === 'segment' ? c.ids : startIds(c)) ids.add(id);
      if (!c.optional) break;
    }
    hit = ids;
    startCache.set(group, hit);
  }
  return hit;
}

/** Every segment id anywhere in a group. */
export function containedIds(group: StructureGroup): ReadonlySet<string> {
  let hit = containsCache.get(group);
  if (hit === undefined) {
    const ids = new Set<string>();
    for (const c of group.children) for (const id of c.kind === 'segment' ? c.ids : containedIds(c)) ids.add(id);
    hit = ids;
    containsCache.set(group, hit);
  }
  return hit;
}

/** The path inside a new instance of `group` to the element that takes `id`. */
function descend(group: StructureGroup, id: string, mode: SearchMode): { path: number[]; strong: boolean } | undefined {
  for (let k = 0; k < group.children.length; k++) {
    const c = group.children[k] as StructureElement;
    if (c.kind === 'segment') {
      if (c.ids.includes(id)) return { path: [k], strong: !c.optional };
    } else if ((mode === 'start' ? startIds(c) : containedIds(c)).has(id)) {
      const sub = descend(c, id, mode);
      if (sub !== undefined) return { path: [k, ...sub.path], strong: !c.optional && sub.strong };
    }
    // A new instance must begin at or before its first required element.
    if (mode === 'start' && !c.optional) return undefined;
  }
  return undefined;
}

/** A match for `id` at one child index of a frame's group, if the element takes it. */
function matchAt(frame: Frame, level: number, k: number, id: string, mode: SearchMode): Candidate | undefined {
  const c = frame.group.children[k] as StructureElement;
  if (c.kind === 'segment') return c.ids.includes(id) ? { level, path: [k], strong: true } : undefined;
  if (!(mode === 'start' ? startIds(c) : containedIds(c)).has(id)) return undefined;
  const sub = descend(c, id, mode);
  return sub === undefined ? undefined : { level, path: [k, ...sub.path], strong: sub.strong };
}

/**
 * Where a segment goes. Frames are searched from the innermost out; in each, first another
 * repetition of the element matched last (if it repeats), then the elements after it in order.
 *
 * Where the structure is ambiguous the first place that opens every new group at a required
 * element wins over an earlier one that opens a group at an optional element. This is what lets an
 * ORC start the next OML_O21 ORDER (ORC required) rather than a PRIOR_RESULT inside the current
 * one (where ORC is optional), while an NTE still attaches to the nearest group that takes it.
 * If no group can be started at this segment, a later group is entered wherever it contains the
 * segment (its missing leading segments are then reported by the validator).
 */
function choose(frames: readonly Frame[], id: string): Candidate | undefined {
  let weak: Candidate | undefined;
  for (let level = frames.length - 1; level >= 0; level--) {
    const f = frames[level] as Frame;
    const cur = f.group.children[f.pos];
    if (cur !== undefined && cur.repeating) {
      const c = matchAt(f, level, f.pos, id, 'start');
      if (c !== undefined) {
        if (c.strong) return c;
        weak ??= c;
      }
    }
    for (let k = f.pos + 1; k < f.group.children.length; k++) {
      const c = matchAt(f, level, k, id, 'start');
      if (c === undefined) continue;
      if (c.strong) return c;
      weak ??= c;
    }
  }
  if (weak !== undefined) return weak;
  for (let level = frames.length - 1; level >= 0; level--) {
    const f = frames[level] as Frame;
    for (let k = f.pos + 1; k < f.group.children.length; k++) {
      const c = matchAt(f, level, k, id, 'anywhere');
      if (c !== undefined) return c;
    }
  }
  return undefined;
}

function isZSegment(id: string): boolean {
  // HL7 v2.5.1 ch.2 2.5.2: segment ids beginning with Z are reserved for locally defined segments.
  return id.startsWith('Z');
}

function segmentNode(seg: Hl7Segment, index: number, placement: SegmentPlacement, element?: StructureSegment, problem?: PlacementProblem): Hl7SegmentNode {
  return { kind: 'segment', name: seg.name, segment: seg, index, placement, problem, element };
}

/** Places a segment along a candidate path, opening groups as it goes. */
function apply(frames: Frame[], cand: Candidate, seg: Hl7Segment, index: number): Hl7SegmentNode {
  frames.length = cand.level + 1;
  let frame = frames[cand.level] as Frame;
  for (let i = 0; i < cand.path.length; i++) {
    const k = cand.path[i] as number;
    const el = frame.group.children[k] as StructureElement;
    frame.pos = k;
    if (el.kind === 'segment') {
      const node = segmentNode(seg, index, 'expected', el);
      frame.node.children.push(node);
      return node;
    }
    let repetition = 1;
    for (const c of frame.node.children) if (c.kind === 'group' && c.element === el) repetition++;
    const node: MutableGroup = { kind: 'group', name: el.name, repetition, element: el, children: [] };
    frame.node.children.push(node);
    frame = { group: el, node, pos: -1 };
    frames.push(frame);
  }
  // A path always ends at a segment element; reaching here means the structure data is broken.
  throw new Error(`structure path for ${seg.name} did not end at a segment`);
}

function problemOf(frames: readonly Frame[], id: string, structure: MessageStructure): PlacementProblem {
  const inner = frames[frames.length - 1] as Frame;
  const last = inner.group.children[inner.pos];
  if (last !== undefined && last.kind === 'segment' && last.ids.includes(id)) return 'repeated';
  return containedIds(structure.root).has(id) ? 'out-of-order' : 'not-in-structure';
}

/** Groups segments by a compiled structure. */
export function groupSegments(segments: readonly Hl7Segment[], structure: MessageStructure): { root: Hl7GroupNode; unexpected: Hl7SegmentNode[] } {
  const root: MutableGroup = { kind: 'group', name: structure.id, repetition: 1, element: structure.root, children: [] };
  const frames: Frame[] = [{ group: structure.root, node: root, pos: -1 }];
  const unexpected: Hl7SegmentNode[] = [];
  segments.forEach((seg, index) => {
    const id = seg.name;
    const cand = isZSegment(id) ? undefined : choose(frames, id);
    if (cand !== undefined) {
      apply(frames, cand, seg, index);
      return;
    }
    // Z-segments and misfits stay after the segment before them, in its group (the cursor does
    // not move, so the segments after them are matched as if they were not there).
    const inner = frames[frames.length - 1] as Frame;
    const node = isZSegment(id) ? segmentNode(seg, index, 'z') : segmentNode(seg, index, 'unexpected', undefined, problemOf(frames, id, structure));
    inner.node.children.push(node);
    if (node.placement === 'unexpected') unexpected.push(node);
  });
  return { root, unexpected };
}

/** Safe text for a structure-like name read from a message (it reaches logs and ACKs). */
function nameFrom(text: string): string {
  return /^[A-Z0-9_]{1,16}$/.test(text) ? text : '';
}

/**
 * Groups a message by its structure: MSH-9.3 when it names a structure described in
 * hl7-structures.ts, else the one table 0354 gives MSH-9.1/9.2, for the version in MSH-12.1.
 * A message of an undescribed type gets a flat tree (every segment 'unchecked').
 */
export function groupMessage(msg: Hl7Message, options: GroupOptions = {}): Hl7MessageTree {
  const version = structureVersion(options.version ?? msg.version).version;
  const resolution: StructureResolution =
    options.structure !== undefined
      ? { kind: 'known', id: options.structure, via: 'msh-9.3', eventStructure: undefined, declared: options.structure }
      : resolveStructure(msg.messageCode, msg.triggerEvent, msg.messageStructure);
  const structure = resolution.kind === 'known' ? structureFor(resolution.id, version) : undefined;
  if (structure === undefined) {
    const name = nameFrom(resolution.declared) || [nameFrom(msg.messageCode), nameFrom(msg.triggerEvent)].filter((x) => x !== '').join('_') || 'UNKNOWN';
    const element: StructureGroup = { kind: 'group', name, optional: false, repeating: false, versions: {}, children: [] };
    const root: Hl7GroupNode = { kind: 'group', name, repetition: 1, element, children: msg.segments.map((s, i) => segmentNode(s, i, 'unchecked')) };
    return { structure: undefined, resolution, version, root, unexpected: [] };
  }
  const { root, unexpected } = groupSegments(msg.segments, structure);
  return { structure, resolution, version, root, unexpected };
}

function rootOf(t: Hl7MessageTree | Hl7GroupNode): Hl7GroupNode {
  return 'root' in t ? t.root : t;
}

/** Every segment under a tree or group, in message order. */
export function flattenSegments(t: Hl7MessageTree | Hl7GroupNode): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  const walk = (g: Hl7GroupNode): void => {
    for (const c of g.children) {
      if (c.kind === 'segment') out.push(c.segment);
      else walk(c);
    }
  };
  walk(rootOf(t));
  return out;
}

/** Every instance of a named group, at any depth, in message order. */
export function groups(t: Hl7MessageTree | Hl7GroupNode, name: string): Hl7GroupNode[] {
  const out: Hl7GroupNode[] = [];
  const walk = (g: Hl7GroupNode): void => {
    for (const c of g.children) {
      if (c.kind !== 'group') continue;
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(rootOf(t));
  return out;
}

/** The segments directly in a group (not in its subgroups), optionally only those with an id. */
export function segmentsOf(g: Hl7GroupNode, id?: string): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  for (const c of g.children) if (c.kind === 'segment' && (id === undefined || c.name === id)) out.push(c.segment);
  return out;
}

/** The first segment with this id directly in a group. */
export function segmentOf(g: Hl7GroupNode, id: string): Hl7Segment | undefined {
  for (const c of g.children) if (c.kind === 'segment' && c.name === id) return c.segment;
  return undefined;
}

/** The direct subgroups of a group, optionally only those with a name. */
export function childGroups(g: Hl7GroupNode, name?: string): Hl7GroupNode[] {
  const out: Hl7GroupNode[] = [];
  for (const c of g.children) if (c.kind === 'group' && (name === undefined || c.name === name)) out.push(c);
  return out;
}

/** A readable outline of a tree, one line per node (`  ORDER_OBSERVATION[2]`, `    OBX #7`), for tests and debugging. */
export function outline(t: Hl7MessageTree | Hl7GroupNode): string {
  const lines: string[] = [];
  const walk = (g: Hl7GroupNode, depth: number): void => {
    lines.push(`${'  '.repeat(depth)}${g.name}[${g.repetition}]`);
    for (const c of g.children) {
      if (c.kind === 'group') walk(c, depth + 1);
      else lines.push(`${'  '.repeat(depth + 1)}${c.name} #${c.index + 1}${c.placement === 'expected' ? '' : ` (${c.placement}${c.problem ? `: ${c.problem}` : ''})`}`);
    }
  };
  walk(rootOf(t), 0);
  return lines.join('\n');
}
