import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeHTML } from 'entities';
import { parseFeed } from '../feeds/parse';

/**
 * Publisher transcripts made from the fixture texts (shared/fixtures), for the quality gate's
 * false-positive check (test and bench:quality-gate): every real feed's episode descriptions and
 * the FLEURS/JFK reference texts, each once through (no text is repeated to fill time), written
 * as a two-speaker SRT (`Name:` where the speaker changes) and a WebVTT (`<v Name>`), the way
 * Podcasting 2.0 files mark speakers. They are clean: none may be flagged.
 */

export interface CorpusFile {
  name: string;
  format: 'srt' | 'vtt';
  body: string;
}

const SPEAKERS = ['Ana Lima', 'Ben Okafor'];
/** ~150 words per minute. */
const MS_PER_WORD = 400;

function sentencesOfFeed(file: string): string[] {
  const out: string[] = [];
  for (const e of parseFeed(readFileSync(file)).episodes) {
    const text = decodeHTML((e.contentHtml ?? e.description ?? '').replace(/<[^>]+>/g, ' '))
      .replace(/\s+/g, ' ')
      .trim();
    for (const s of text.split(/(?<=[a-z0-9)"”’][.!?])\s+(?=[A-Z"“])/)) {
      const t = s.trim();
      // Links and handles are show-note debris, not speech.
      if (t.split(' ').length >= 3 && !/https?:|www\.|@\w|\.com\b/i.test(t)) out.push(t);
    }
  }
  return out;
}

const clock = (ms: number, sep: ',' | '.') => {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}${sep}${String(ms % 1000).padStart(3, '0')}`;
};

/** Cues of one sentence each; the speaker changes every three sentences. */
export function asSubtitles(sentences: string[], format: 'srt' | 'vtt'): string {
  const cues: string[] = [];
  let t = 0;
  let last = '';
  sentences.forEach((text, i) => {
    const speaker = SPEAKERS[Math.floor(i / 3) % 2];
    const ms = text.split(' ').length * MS_PER_WORD;
    const sep = format === 'srt' ? ',' : '.';
    const timing = `${clock(t, sep)} --> ${clock(t + ms, sep)}`;
    const said = speaker === last ? text : format === 'srt' ? `${speaker}: ${text}` : `<v ${speaker}>${text}`;
    cues.push(format === 'srt' ? `${i + 1}\n${timing}\n${said}\n` : `${timing}\n${said}\n`);
    last = speaker;
    t += ms + 200;
  });
  return format === 'srt' ? cues.join('\n') : `WEBVTT\n\n${cues.join('\n')}`;
}

/** Every fixture publisher transcript: per real feed (with at least 5 sentences) and for the reference texts, an SRT and a VTT. */
export function fixturePublisherTranscripts(fixturesDir: string): CorpusFile[] {
  const sources: { name: string; sentences: string[] }[] = [];
  const feedsDir = path.join(fixturesDir, 'feeds', 'real');
  for (const f of readdirSync(feedsDir).sort()) {
    if (!f.endsWith('.xml')) continue;
    const sentences = sentencesOfFeed(path.join(feedsDir, f));
    if (sentences.length >= 5) sources.push({ name: f.replace(/\.xml$/, ''), sentences });
  }
  const audioDir = path.join(fixturesDir, 'audio');
  const references = readdirSync(audioDir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => readFileSync(path.join(audioDir, f), 'utf8').trim());
  sources.push({ name: 'reference-texts', sentences: references });
  return sources.flatMap((s) => (['srt', 'vtt'] as const).map((format) => ({ name: `${s.name}.${format}`, format, body: asSubtitles(s.sentences, format) })));
}
