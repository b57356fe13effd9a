/**
 * A small reader of FHIR XML into FHIR JSON shape, enough to extract conformance facts from the
 * expected bundles the corpus ships as XML (one of the IG samples is XML even under a `.json` name).
 *
 * FHIR R4 xml.html: primitives are elements with a `value` attribute; complex elements nest;
 * a resource sits inside a wrapper element named after its type (`<resource><Patient>`); the
 * narrative `<div>` is XHTML and is skipped here. Repeated elements become arrays; a single one
 * stays a plain value, so readers of the result must accept both (the fact extractor does).
 */

type Json = string | JsonObject | Json[];
interface JsonObject {
  [key: string]: Json;
}

interface Frame {
  readonly name: string;
  readonly obj: JsonObject;
  /** The `value` attribute of a primitive, when it had one. */
  value?: string;
  /** Inside an XHTML narrative: ignored. */
  readonly skip: boolean;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    return ENTITIES[ref] ?? whole;
  });
}

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out.set(m[1] as string, decode(m[2] ?? m[3] ?? ''));
  return out;
}

function append(obj: JsonObject, key: string, value: Json): void {
  const prev = obj[key];
  if (prev === undefined) obj[key] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else obj[key] = [prev, value];
}

/** True when an element name is a resource type (FHIR resource names start upper-case). */
const isResourceName = (name: string): boolean => /^[A-Z]/.test(name);

/** Parses FHIR XML text into a JSON-shaped object; throws on text that is not well-formed enough. */
export function fhirXmlToJson(xml: string): unknown {
  const root: JsonObject = {};
  const stack: Frame[] = [{ name: '#root', obj: root, skip: false }];
  const tag = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  for (const m of xml.matchAll(tag)) {
    const name = m[2];
    if (name === undefined) continue; // comment, declaration, CDATA
    const closing = m[1] === '/';
    const selfClosing = m[4] === '/';
    const parent = stack[stack.length - 1] as Frame;
    if (closing) {
      const frame = stack.pop();
      if (frame === undefined || frame.name !== name) throw new Error(`XML: unexpected </${name}>`);
      finish(frame, stack[stack.length - 1] as Frame);
      continue;
    }
    const attrs = attributes(m[3] ?? '');
    const skip = parent.skip || name === 'div';
    const frame: Frame = { name, obj: {}, skip };
    if (!skip) {
      const v = attrs.get('value');
      if (v !== undefined) frame.value = v;
      const url = attrs.get('url');
      if (url !== undefined) frame.obj['url'] = url;
      const id = attrs.get('id');
      if (id !== undefined) frame.obj['id'] = id;
    }
    if (selfClosing) finish(frame, parent);
    else stack.push(frame);
  }
  if (stack.length !== 1) throw new Error('XML: unclosed elements');
  return root;
}

function finish(frame: Frame, parent: Frame): void {
  if (frame.skip) return;
  const hasChildren = Object.keys(frame.obj).length > 0;
  let value: Json;
  if (isResourceName(frame.name)) {
    value = { resourceType: frame.name, ...frame.obj };
  } else if (frame.value !== undefined && !hasChildren) {
    value = frame.value;
  } else {
    value = frame.value !== undefined ? { value: frame.value, ...frame.obj } : frame.obj;
  }
  // `<resource><Patient/></resource>`: the wrapper holds the resource itself (FHIR R4 xml.html);
  // the document element is the root resource.
  if (isResourceName(frame.name) && (parent.name === 'resource' || parent.name === 'contained' || parent.name === '#root')) {
    Object.assign(parent.obj, value);
    return;
  }
  append(parent.obj, frame.name, value);
}
