import type { Hl7Encoding } from './hl7-encoding.ts';

/**
 * Escape sequences, HL7 v2.5.1 ch.2 2.7 ("Use of escape sequences in text fields") and v2.7 ch.2
 * 2.7.1 for `\P\` (the truncation character). The tree keeps values raw; these functions decode on
 * typed access and escape on set, so that an unchanged message serializes byte for byte.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

function decodeHex(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  // \Xhh\ carries bytes; read them as UTF-8 when they form valid UTF-8, otherwise as ISO-8859-1
  // (the default character set of v2 when MSH-18 is empty).
  try {
    return utf8.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}

function formatting(cmd: string): string | undefined {
  // Formatted text commands of FT (ch.2 2.7.6): a line break, blank lines, and layout hints that
  // have no plain-text meaning.
  if (cmd === '.br') return '\n';
  const sp = /^\.sp([+-]?\d*)$/.exec(cmd);
  if (sp) {
    const n = sp[1] === '' || sp[1] === undefined ? 1 : Math.max(1, Number.parseInt(sp[1], 10) || 1);
    return '\n'.repeat(n);
  }
  if (/^\.(fi|nf|ce)$/.test(cmd) || /^\.(in|ti|sk)[+-]?\d*$/.test(cmd)) return '';
  return undefined;
}

/**
 * Decodes escape sequences in a leaf value. Unknown or unterminated sequences are kept verbatim
 * rather than dropped, so nothing a sender wrote is lost. Highlighting (`\H\`, `\N\`) is removed.
 */
export function decodeEscapes(raw: string, enc: Hl7Encoding): string {
  const esc = enc.escape;
  if (esc === '' || raw.indexOf(esc) === -1) return raw;
  let out = '';
  let pos = 0;
  for (;;) {
    const start = raw.indexOf(esc, pos);
    if (start === -1) break;
    const end = raw.indexOf(esc, start + 1);
    if (end === -1) break;
    const body = raw.slice(start + 1, end);
    let replacement: string | undefined;
    switch (body) {
      case 'F': replacement = enc.field; break;
      case 'S': replacement = enc.component; break;
      case 'T': replacement = enc.subcomponent; break;
      case 'R': replacement = enc.repetition; break;
      case 'E': replacement = esc; break;
      case 'P': replacement = enc.truncation === '' ? undefined : enc.truncation; break;
      case 'H':
      case 'N': replacement = ''; break;
      default:
        if (body.charAt(0) === 'X') replacement = decodeHex(body.slice(1));
        else if (body.charAt(0) === '.') replacement = formatting(body);
    }
    if (replacement === undefined) {
      if (/^(Z[^\s]*|C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4,6})$/.test(body)) {
        // A sequence we do not interpret (\Zxx\ local, \Cxxyy\ / \Mxxyyzz\ character-set switches):
        // keep it whole, closing escape included, so that it cannot open the next sequence.
        out += raw.slice(pos, end + 1);
        pos = end + 1;
      } else {
        // A stray escape character in text: keep it, and look for a sequence from the next one.
        out += raw.slice(pos, end);
        pos = end;
      }
      continue;
    }
    out += raw.slice(pos, start) + replacement;
    pos = end + 1;
  }
  return out + raw.slice(pos);
}

/**
 * Escapes a plain value so that it can be placed in a leaf position. Segment terminators become
 * `\X0D\` / `\X0A\` (a raw CR would end the segment).
 */
export function encodeEscapes(value: string, enc: Hl7Encoding): string {
  const esc = enc.escape;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (esc !== '' && c === esc) out += `${esc}E${esc}`;
    else if (c === enc.field) out += `${esc}F${esc}`;
    else if (c === enc.component) out += `${esc}S${esc}`;
    else if (c === enc.repetition && c !== '') out += `${esc}R${esc}`;
    else if (c === enc.subcomponent && c !== '') out += `${esc}T${esc}`;
    else if (c === enc.truncation && c !== '') out += `${esc}P${esc}`;
    else if (c === '\r') out += `${esc}X0D${esc}`;
    else if (c === '\n') out += `${esc}X0A${esc}`;
    else out += c;
  }
  return out;
}

/** True when a value holds any delimiter and so needs escaping before it is placed in a leaf. */
export function needsEscaping(value: string, enc: Hl7Encoding): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === enc.field || c === enc.component || c === enc.repetition || c === enc.escape || c === enc.subcomponent || c === enc.truncation || c === '\r' || c === '\n') return true;
  }
  return false;
}
