/**
 * Encoding characters of an ER7 message (HL7 v2.5.1 ch.2 2.5.4 "Message delimiters").
 *
 * MSH-1 is the field separator (the 4th character of MSH); MSH-2 lists, in order, the component,
 * repetition, escape and subcomponent separators, and from v2.7 an optional 5th truncation
 * character (ch.2 2.5.5.2). Any character may be chosen by the sender, so nothing here assumes `|^~\&`.
 */
export interface Hl7Encoding {
  readonly field: string;
  readonly component: string;
  /** The repetition separator, or '' when MSH-2 declares none. */
  readonly repetition: string;
  /** The escape character, or '' when MSH-2 declares none. */
  readonly escape: string;
  /** The subcomponent separator, or '' when MSH-2 declares none. */
  readonly subcomponent: string;
  /** The truncation character of v2.7+ (usually '#'), or '' when absent. */
  readonly truncation: string;
}

export const DEFAULT_ENCODING: Hl7Encoding = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
  truncation: '',
});

/** The text of MSH-2 for an encoding. */
export function encodingCharacters(enc: Hl7Encoding): string {
  return enc.component + enc.repetition + enc.escape + enc.subcomponent + enc.truncation;
}

/**
 * Reads the encoding from the first characters of an MSH/FHS/BHS line. Returns a reason string when
 * the delimiters are unusable (a letter or digit, a segment terminator, or the same character twice).
 */
export function readEncoding(line: string): Hl7Encoding | string {
  if (line.length < 4) return 'the header segment is too short to hold MSH-1';
  const field = line.charAt(3);
  let end = line.indexOf(field, 4);
  if (end === -1) end = line.length;
  const chars = line.slice(4, end);
  if (chars.length < 1) return 'MSH-2 is empty';
  if (chars.length > 5) return `MSH-2 holds ${chars.length} characters (at most 5 are allowed)`;
  const enc: Hl7Encoding = {
    field,
    component: chars.charAt(0),
    repetition: chars.charAt(1),
    escape: chars.charAt(2),
    subcomponent: chars.charAt(3),
    truncation: chars.charAt(4),
  };
  const all = field + chars;
  for (let i = 0; i < all.length; i++) {
    const c = all.charAt(i);
    if (/[A-Za-z0-9\r\n ]/.test(c)) return `delimiter ${JSON.stringify(c)} is a letter, digit, space or terminator`;
    if (all.indexOf(c) !== i) return `delimiter ${JSON.stringify(c)} is used twice`;
  }
  return enc;
}
