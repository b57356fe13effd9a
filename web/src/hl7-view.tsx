// Raw HL7 v2 (ER7) with segments, fields and components highlighted. Hovering or focusing a
// component shows its path and name (`PID-5.1 Family name`, hl7-fields.ts). The separators come
// from MSH-1 and MSH-2 (HL7 v2.5.1 ch. 2 2.5.4 "Message delimiters"), not assumed.
import { useState } from 'preact/hooks';
import { COMPONENTS, describeField, SEGMENT_NAMES } from './hl7-fields.ts';

interface Delims {
  readonly field: string;
  readonly component: string;
  readonly repetition: string;
}

export interface ParsedSegment {
  readonly name: string;
  /** fields[i] is HL7 field i (fields[0] unused); each a list of repetitions of components. */
  readonly fields: readonly (readonly (readonly string[])[])[];
  readonly raw: string;
}

function delimsOf(text: string): Delims {
  if (text.startsWith('MSH') && text.length >= 8) {
    return { field: text[3] ?? '|', component: text[4] ?? '^', repetition: text[5] ?? '~' };
  }
  return { field: '|', component: '^', repetition: '~' };
}

export function parseEr7(text: string): { segments: ParsedSegment[]; delims: Delims } {
  const delims = delimsOf(text);
  const segments: ParsedSegment[] = [];
  for (const raw of text.split(/\r\n|\r|\n/)) {
    if (raw.trim() === '') continue;
    const parts = raw.split(delims.field);
    const name = parts[0] ?? '';
    const fields: (readonly (readonly string[])[])[] = [[]];
    if (name === 'MSH') {
      // MSH-1 is the field separator itself and MSH-2 the encoding characters: neither is split.
      fields.push([[delims.field]], [[parts[1] ?? '']]);
      for (const p of parts.slice(2)) fields.push(p.split(delims.repetition).map((r) => r.split(delims.component)));
    } else {
      for (const p of parts.slice(1)) fields.push(p.split(delims.repetition).map((r) => r.split(delims.component)));
    }
    segments.push({ name, fields, raw });
  }
  return { segments, delims };
}

function pathOf(seg: string, field: number, rep: number, comp: number | undefined): { path: string; name: string } {
  const info = describeField(seg, field, comp);
  const withRep = rep > 0 ? info.path.replace(`${seg}-${field}`, `${seg}-${field}[${rep + 1}]`) : info.path;
  return { path: withRep, name: info.name };
}

interface Tip {
  readonly text: string;
  readonly x: number;
  readonly y: number;
}

export function Hl7View({ text }: { readonly text: string }) {
  const [tip, setTip] = useState<Tip | undefined>(undefined);
  const { segments, delims } = parseEr7(text);

  const show = (e: Event): void => {
    const el = e.target instanceof HTMLElement ? e.target.closest<HTMLElement>('[data-path]') : null;
    if (el === null) return;
    const box = el.getBoundingClientRect();
    const host = (e.currentTarget as HTMLElement).getBoundingClientRect();
    setTip({ text: `${el.dataset['path'] ?? ''} ${el.dataset['name'] ?? ''}`.trim(), x: box.left - host.left, y: box.bottom - host.top + 4 });
  };

  return (
    <div class="hl7" onMouseOver={show} onFocusIn={show} onMouseLeave={() => setTip(undefined)}>
      <pre class="hl7-raw" aria-label="Raw HL7 message">
        {segments.map((s, si) => (
          <div class="hl7-seg" key={si}>
            <span class="hl7-segname" data-path={s.name} data-name={SEGMENT_NAMES[s.name] ?? ''} title={SEGMENT_NAMES[s.name] ?? s.name}>
              {s.name}
            </span>
            {s.fields.map((reps, fi) => {
              if (fi === 0) return null;
              // MSH-1 is the separator printed right after the segment name.
              if (s.name === 'MSH' && fi === 1) return null;
              return (
                <span key={fi}>
                  <span class="hl7-sep">{delims.field}</span>
                  <span class="hl7-field">
                    {reps.map((comps, ri) => (
                      <span key={ri}>
                        {ri > 0 && <span class="hl7-sep">{delims.repetition}</span>}
                        {comps.map((c, ci) => {
                          // A primitive type (ST, ID, IS, ...) has no components: name the field itself.
                          const primitive = comps.length === 1 && COMPONENTS[describeField(s.name, fi).dataType] === undefined;
                          const where = pathOf(s.name, fi, ri, primitive ? undefined : ci + 1);
                          return (
                            <span key={ci}>
                              {ci > 0 && <span class="hl7-sep">{delims.component}</span>}
                              {c !== '' && (
                                <span class={`hl7-comp f${fi % 6}`} tabIndex={0} data-path={where.path} data-name={where.name} aria-label={`${where.path} ${where.name}: ${c}`}>
                                  {c}
                                </span>
                              )}
                            </span>
                          );
                        })}
                      </span>
                    ))}
                  </span>
                </span>
              );
            })}
          </div>
        ))}
      </pre>
      {tip !== undefined && (
        <div class="hl7-tip" role="tooltip" style={{ left: `${tip.x}px`, top: `${tip.y}px` }}>
          {tip.text}
        </div>
      )}
    </div>
  );
}

/** The parsed tree: segment > field > components, each with its name. */
export function Hl7Tree({ text }: { readonly text: string }) {
  const { segments } = parseEr7(text);
  return (
    <ul class="tree">
      {segments.map((s, si) => (
        <li key={si}>
          <details open={si < 3}>
            <summary>
              <strong>{s.name}</strong> {SEGMENT_NAMES[s.name] ?? ''}
            </summary>
            <ul>
              {s.fields.map((reps, fi) => {
                if (fi === 0 || reps.every((r) => r.every((c) => c === ''))) return null;
                const info = describeField(s.name, fi);
                return (
                  <li key={fi}>
                    <span class="mono">{info.path}</span> {info.name}
                    {reps.map((comps, ri) =>
                      comps.length === 1 ? (
                        <span key={ri} class="mono val">
                          {' '}
                          {comps[0]}
                        </span>
                      ) : (
                        <ul key={ri}>
                          {comps.map((c, ci) =>
                            c === '' ? null : (
                              <li key={ci}>
                                <span class="mono">{pathOf(s.name, fi, ri, ci + 1).path}</span> {pathOf(s.name, fi, ri, ci + 1).name} <span class="mono val">{c}</span>
                              </li>
                            ),
                          )}
                        </ul>
                      ),
                    )}
                  </li>
                );
              })}
            </ul>
          </details>
        </li>
      ))}
    </ul>
  );
}

/** Patient name, birth date and first identifier from PID (for the masked list columns). */
export function patientOf(text: string): { name: string; birthDate: string; id: string } {
  const pid = parseEr7(text).segments.find((s) => s.name === 'PID');
  const name = pid?.fields[5]?.[0] ?? [];
  return {
    name: [name[0], name[1]].filter((x) => x !== undefined && x !== '').join(', '),
    birthDate: pid?.fields[7]?.[0]?.[0] ?? '',
    id: pid?.fields[3]?.[0]?.[0] ?? '',
  };
}
