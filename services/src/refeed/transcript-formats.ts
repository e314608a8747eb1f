import { stripInvalidXmlChars } from '../feeds/xml';

/**
 * An episode's transcript (transcript_segments) in the formats podcast apps read through
 * `podcast:transcript` (issue 17): WebVTT, SRT and the Podcasting 2.0 JSON transcript.
 * Segments with no text are left out; times are clamped (never negative, end never before start).
 */
export interface Segment {
  start_ms: number;
  end_ms: number;
  text: string;
  speaker: string | null;
}

/** One line of cue text: control characters gone, whitespace (line breaks included: a blank line ends a cue) collapsed. */
function oneLine(text: string): string {
  return stripInvalidXmlChars(text)
    .text.replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

interface Cue {
  start: number;
  end: number;
  text: string;
  speaker: string | null;
}

function cues(segments: readonly Segment[]): Cue[] {
  const out: Cue[] = [];
  for (const s of segments) {
    const text = oneLine(s.text ?? '');
    if (!text) continue;
    const start = Math.max(0, Math.round(Number.isFinite(s.start_ms) ? s.start_ms : 0));
    const end = Math.max(start, Math.round(Number.isFinite(s.end_ms) ? s.end_ms : start));
    const speaker = s.speaker ? oneLine(s.speaker) || null : null;
    out.push({ start, end, text, speaker });
  }
  return out;
}

/** `HH:MM:SS<sep>mmm` (hours grow past 99 when they must). */
function timestamp(ms: number, sep: '.' | ','): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const milli = ms % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}${sep}${String(milli).padStart(3, '0')}`;
}

/** WebVTT cue text: `&`, `<`, `>` as entities (so `-->` and tags in the words stay words). */
const vttEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function toWebVtt(segments: readonly Segment[]): string {
  const parts = ['WEBVTT\n'];
  cues(segments).forEach((c, i) => {
    // A voice span carries the speaker (its annotation may not hold '>' or a line break).
    const voice = c.speaker ? `<v ${vttEscape(c.speaker)}>` : '';
    parts.push(`${i + 1}\n${timestamp(c.start, '.')} --> ${timestamp(c.end, '.')}\n${voice}${vttEscape(c.text)}\n`);
  });
  return parts.join('\n');
}

export function toSrt(segments: readonly Segment[]): string {
  // SRT has no escaping: an arrow inside the words could be read as a timing line.
  const safe = (s: string) => s.replace(/-->/g, '->');
  return cues(segments)
    .map((c, i) => `${i + 1}\n${timestamp(c.start, ',')} --> ${timestamp(c.end, ',')}\n${c.speaker ? `${safe(c.speaker)}: ` : ''}${safe(c.text)}\n`)
    .join('\n');
}

/** The Podcasting 2.0 JSON transcript (`application/json`): seconds, with the speaker when known. */
export function toTranscriptJson(segments: readonly Segment[]): { version: string; segments: { speaker?: string; startTime: number; endTime: number; body: string }[] } {
  return {
    version: '1.0.0',
    segments: cues(segments).map((c) => ({ ...(c.speaker ? { speaker: c.speaker } : {}), startTime: c.start / 1000, endTime: c.end / 1000, body: c.text })),
  };
}
