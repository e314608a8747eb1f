import { readFileSync } from 'node:fs';
import { metrics } from '../telemetry/metrics';
import type { TranscriptSegment } from './types';

/**
 * Quality guards for transcripts (issue 3). Two failure modes seen in real deployments:
 * a model that silently drops part of the speech (→ low speech coverage) and a busy or
 * confused ASR server that answers HTTP 200 with garbage such as "thank you thank you …"
 * (→ repetition loop). A model with broken weights emits text that is no language at all
 * ("wdf7 wxlq wzb4", → garbage_text: few words of an English word list, or text shaped unlike
 * words). Each makes the transcript `degraded`: it is kept, but marked, counted in
 * `podbrain_transcripts_degraded_total{reason}` and explained in its JSON.
 */

export interface SpeechSpan {
  start_ms: number;
  end_ms: number;
}

export type DegradedReasonCode = 'low_coverage' | 'repetition_loop' | 'empty_transcript' | 'garbage_text';

/** How the garbage check judged the text: against the word list, or by token shape when there is none (or not English). */
export interface TextCheck {
  method: 'wordlist' | 'shape';
  words: number;
  /** Share of tokens that are words (in the word list, or shaped like words). */
  word_share: number;
  /** Shannon entropy of the letters and digits, bits per char (English ≈ 4.1–4.3; random tokens ≈ 5). */
  entropy: number;
  /** The word list read, or null when the file is missing (then `method` is shape). */
  wordlist: string | null;
}

export interface TranscriptAssessment {
  status: 'valid' | 'degraded';
  /** `code: explanation`, e.g. `low_coverage: 62% of the detected speech is covered (minimum 90%)`. */
  reasons: string[];
  speech_coverage: number | null;
  repetition_ratio: number;
  /** The longest stretch that keeps repeating itself, when there is one worth reporting. */
  loop: { start_ms: number; words: number } | null;
  text_check: TextCheck;
}

export interface AssessOptions {
  segments: TranscriptSegment[];
  /** VAD speech spans of the audio; null when not measured (then coverage is null). */
  speech: SpeechSpan[] | null;
  /** Coverage below this is degraded (ASR_MIN_COVERAGE, default 0.9). */
  minCoverage: number;
  /** Repetition ratio at or above this is a loop (ASR_MAX_REPETITION, default 0.5). */
  maxRepetition?: number;
  /** Count degraded transcripts in the metric (default true; call once per transcript). */
  countMetric?: boolean;
  /** Transcript language: the word list is English, other languages get the shape check. null/'auto' = unknown (word list). */
  language?: string | null;
  /** English word list, one word a line (default Debian's wamerican, DEFAULT_WORDLIST). */
  wordlist?: string;
}

/** Debian's `wamerican` (apt package, in the image and in CI). */
export const DEFAULT_WORDLIST = '/usr/share/dict/american-english';

/** n-gram length and look-back window (words) of the repetition detector. */
const NGRAM = 3;
const WINDOW_WORDS = 100;
/** A run of this many words in which every trigram repeats recent text is a loop even in a long transcript. */
const LOOP_RUN_WORDS = 50;
/** Below this many words the global ratio says little (a short "yes yes yes" is not a loop). */
const MIN_WORDS_FOR_RATIO = 8;
/** With less detected speech than this, an empty transcript is plausible (silence, music). */
const MIN_SPEECH_MS_FOR_TEXT = 1000;
const DEFAULT_MAX_REPETITION = 0.5;

function merged(spans: SpeechSpan[]): SpeechSpan[] {
  const sorted = spans
    .filter((s) => Number.isFinite(s.start_ms) && Number.isFinite(s.end_ms) && s.end_ms > s.start_ms)
    .map((s) => ({ start_ms: s.start_ms, end_ms: s.end_ms }))
    .sort((a, b) => a.start_ms - b.start_ms);
  const out: SpeechSpan[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.start_ms <= last.end_ms) last.end_ms = Math.max(last.end_ms, s.end_ms);
    else out.push(s);
  }
  return out;
}

const total = (spans: SpeechSpan[]) => spans.reduce((sum, s) => sum + (s.end_ms - s.start_ms), 0);

/**
 * Share (0..1) of the detected speech covered by transcript segments that carry text, both
 * taken as unions of intervals. null speech → null (not measured); no speech at all → 1.
 */
export function speechCoverage(speech: SpeechSpan[] | null, segments: TranscriptSegment[]): number | null {
  if (speech === null) return null;
  const sp = merged(speech);
  const speechMs = total(sp);
  if (speechMs === 0) return 1;
  const seg = merged(segments.filter((s) => s.text.trim() !== ''));
  let covered = 0;
  for (let i = 0, j = 0; i < sp.length && j < seg.length; ) {
    const lo = Math.max(sp[i].start_ms, seg[j].start_ms);
    const hi = Math.min(sp[i].end_ms, seg[j].end_ms);
    if (hi > lo) covered += hi - lo;
    if (sp[i].end_ms < seg[j].end_ms) i++;
    else j++;
  }
  return Math.round((covered / speechMs) * 10_000) / 10_000;
}

interface Word {
  word: string;
  start_ms: number;
}

function wordsOf(segments: TranscriptSegment[]): Word[] {
  const out: Word[] = [];
  for (const s of segments) {
    for (const w of s.text.toLowerCase().normalize('NFKC').split(/[^\p{L}\p{N}']+/u)) {
      const word = w.replace(/^'+|'+$/g, '');
      if (word) out.push({ word, start_ms: s.start_ms });
    }
  }
  return out;
}

interface RepetitionScan {
  ratio: number;
  longestRun: { startWord: number; words: number } | null;
  words: Word[];
}

interface Run {
  start: number;
  end: number;
  repeated: number;
  distances: number[];
}

/** A stretch counts as a loop only when its text comes at least this often in a row. */
const MIN_COPIES = 3;
/** Non-repeating trigrams a loop may contain and go on ("thank you. thank you so much. thank you."). */
const MAX_GAP = 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Runs of word trigrams that repeat one of the previous 100 words. Only runs whose text comes
 * three or more times in a row (repeating at least twice the usual distance back) are loops: a decoder
 * stuck in a loop says the same thing over and over, while people repeat a phrase, a sponsor
 * line or a paragraph of show notes once or twice, with other words between.
 */
function scanRepetition(segments: TranscriptSegment[]): RepetitionScan {
  const words = wordsOf(segments);
  const grams = words.length - NGRAM + 1;
  if (grams <= 0) return { ratio: 0, longestRun: null, words };
  const lastSeen = new Map<string, number>();
  const runs: Run[] = [];
  let cur: Run | null = null;
  let gap = 0;
  for (let i = 0; i < grams; i++) {
    const key = words
      .slice(i, i + NGRAM)
      .map((w) => w.word)
      .join(' ');
    const prev = lastSeen.get(key);
    lastSeen.set(key, i);
    if (prev !== undefined && i - prev <= WINDOW_WORDS) {
      // The loop starts at the first occurrence of what is being repeated.
      cur ??= { start: prev, end: i + NGRAM, repeated: 0, distances: [] };
      cur.repeated++;
      cur.end = i + NGRAM;
      cur.distances.push(i - prev);
      gap = 0;
    } else if (cur && ++gap > MAX_GAP) {
      runs.push(cur);
      cur = null;
      gap = 0;
    }
  }
  if (cur) runs.push(cur);
  let repeated = 0;
  let best: { startWord: number; words: number } | null = null;
  for (const r of runs) {
    // Text said n times in a row at period p repeats (n - 1) × p words.
    if (r.repeated < (MIN_COPIES - 1) * median(r.distances)) continue;
    const length = r.end - r.start;
    repeated += r.repeated;
    if (!best || length > best.words) best = { startWord: r.start, words: length };
  }
  return { ratio: Math.round((repeated / grams) * 10_000) / 10_000, longestRun: best, words };
}

/** Share (0..1) of word trigrams inside loops (text said three or more times in a row): ~0 for speech, ~1 for loops. */
export function repetitionRatio(segments: TranscriptSegment[]): number {
  return scanRepetition(segments).ratio;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** Below this share of words the text is no language (ASR_MIN_WORD_SHARE would be the knob; fixed: real speech sits near 0.9). */
const MIN_WORD_SHARE = 0.5;
/** Letter/digit entropy above this (with enough text to measure it) is random tokens, not a language. */
const MAX_ENTROPY_BITS = 4.6;
const MIN_CHARS_FOR_ENTROPY = 200;

const wordlists = new Map<string, Set<string> | null>();

/** The word list as a set of lower-case words; null when the file is missing or unreadable (read once per path). */
export function loadWordlist(file: string = DEFAULT_WORDLIST): Set<string> | null {
  if (!wordlists.has(file)) {
    let set: Set<string> | null = null;
    try {
      set = new Set(
        readFileSync(file, 'utf8')
          .split('\n')
          .map((w) => w.trim().toLowerCase().replace(/’/g, "'"))
          .filter(Boolean),
      );
    } catch {
      set = null;
    }
    wordlists.set(file, set?.size ? set : null);
  }
  return wordlists.get(file) ?? null;
}

/** Whitespace tokens with the punctuation around them removed; tokens of punctuation only are dropped. */
function tokensOf(segments: TranscriptSegment[]): string[] {
  const out: string[] = [];
  for (const s of segments) {
    for (const raw of s.text.normalize('NFKC').toLowerCase().replace(/[’‘]/g, "'").split(/\s+/)) {
      const t = raw.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
      if (t) out.push(t);
    }
  }
  return out;
}

const NUMBER = /^(?:\d[\d,.]*%?|\d+(?:st|nd|rd|th|s|am|pm|k)?)$/;

function inWordlist(t: string, list: Set<string>): boolean {
  if (NUMBER.test(t) || list.has(t)) return true;
  const base = t.replace(/'s$|'$/, '');
  if (base !== t && list.has(base)) return true;
  // Contractions the list lacks ("we'd've") and hyphenated compounds: every part a word.
  const parts = t.split(/[-']/).filter(Boolean);
  return parts.length > 1 && parts.every((p) => list.has(p) || NUMBER.test(p) || ['s', 't', 'd', 'll', 're', 've', 'm'].includes(p));
}

/** Shaped like a word of some language: letters only (with a vowel, for Latin script) or a number. */
function wordShaped(t: string): boolean {
  if (NUMBER.test(t)) return true;
  if (!/^[\p{L}\p{M}'-]+$/u.test(t)) return false;
  if (/^[a-z'-]+$/.test(t) && t.length >= 3) return /[aeiouy]/.test(t);
  return true;
}

function charEntropy(tokens: string[]): { bits: number; chars: number } {
  const counts = new Map<string, number>();
  let chars = 0;
  for (const t of tokens) {
    for (const c of t) {
      if (!/[\p{L}\p{N}]/u.test(c)) continue;
      counts.set(c, (counts.get(c) ?? 0) + 1);
      chars++;
    }
  }
  let bits = 0;
  for (const n of counts.values()) bits -= (n / chars) * Math.log2(n / chars);
  return { bits: chars ? Math.round(bits * 100) / 100 : 0, chars };
}

const isEnglish = (language: string | null | undefined) => !language || language === 'auto' || /^en\b/i.test(language);

/**
 * Whether the text is language at all. English (or unknown) text is checked against the word
 * list; other languages, or no word list installed, by token shape. Both also measure the
 * character entropy, which random tokens push up. null when there is no text.
 */
export function checkText(
  segments: TranscriptSegment[],
  opts: { language?: string | null; wordlist?: string } = {},
): { check: TextCheck; garbage: string | null } {
  const tokens = tokensOf(segments);
  const file = opts.wordlist ?? DEFAULT_WORDLIST;
  const list = isEnglish(opts.language) ? loadWordlist(file) : null;
  const method = list ? 'wordlist' : 'shape';
  const known = tokens.filter((t) => (list ? inWordlist(t, list) : wordShaped(t))).length;
  const share = tokens.length ? Math.round((known / tokens.length) * 10_000) / 10_000 : 1;
  const { bits, chars } = charEntropy(tokens);
  const check: TextCheck = { method, words: tokens.length, word_share: share, entropy: bits, wordlist: list ? file : null };
  const how = list
    ? 'are English words'
    : isEnglish(opts.language)
      ? `look like words (no word list at ${file}: install wamerican)`
      : `look like words (language ${opts.language}: no word list)`;
  let garbage: string | null = null;
  if (tokens.length && share < MIN_WORD_SHARE) {
    garbage = `garbage_text: ${pct(share)} of ${tokens.length} words ${how} (minimum ${pct(MIN_WORD_SHARE)})`;
  } else if (chars >= MIN_CHARS_FOR_ENTROPY && bits > MAX_ENTROPY_BITS) {
    garbage = `garbage_text: character entropy ${bits} bits is that of random tokens, not language (limit ${MAX_ENTROPY_BITS})`;
  }
  return { check, garbage };
}

/**
 * Reasons that make a transcript unfit for summaries and insights (they would summarise noise):
 * garbage text, or a transcript that is mostly a loop. Low coverage is not one: what was
 * transcribed is still real speech.
 */
export function enrichBlocker(quality: { reasons: string[]; repetition_ratio?: number } | null | undefined, maxRepetition = DEFAULT_MAX_REPETITION): string | null {
  for (const r of quality?.reasons ?? []) {
    const code = reasonCode(r);
    if (code === 'garbage_text' || code === 'empty_transcript') return r;
    if (code === 'repetition_loop' && (quality?.repetition_ratio ?? 0) >= maxRepetition) return r;
  }
  return null;
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** The code part of a reason string (`low_coverage: …` → `low_coverage`). */
export function reasonCode(reason: string): string {
  return reason.split(':', 1)[0].trim();
}

/** Applies the quality guards to a transcript; see the module comment. */
export function assessTranscript(opts: AssessOptions): TranscriptAssessment {
  const maxRepetition = opts.maxRepetition ?? DEFAULT_MAX_REPETITION;
  const coverage = speechCoverage(opts.speech, opts.segments);
  const scan = scanRepetition(opts.segments);
  const reasons: string[] = [];

  const speechMs = opts.speech ? total(merged(opts.speech)) : null;
  if (scan.words.length === 0 && (speechMs === null || speechMs >= MIN_SPEECH_MS_FOR_TEXT)) {
    reasons.push(
      speechMs === null
        ? 'empty_transcript: the engine returned no text'
        : `empty_transcript: the engine returned no text for ${Math.round(speechMs / 1000)} s of detected speech`,
    );
  }
  if (coverage !== null && coverage < opts.minCoverage) {
    reasons.push(`low_coverage: ${pct(coverage)} of the detected speech is covered by transcript segments (minimum ${pct(opts.minCoverage)})`);
  }

  const run = scan.longestRun;
  const loop = run && run.words >= LOOP_RUN_WORDS ? { start_ms: scan.words[run.startWord].start_ms, words: run.words } : null;
  if (scan.words.length >= MIN_WORDS_FOR_RATIO && scan.ratio >= maxRepetition) {
    reasons.push(`repetition_loop: ${pct(scan.ratio)} of the word sequences repeat recent text (limit ${pct(maxRepetition)})`);
  } else if (loop) {
    reasons.push(`repetition_loop: ${loop.words} words from ${clock(loop.start_ms)} keep repeating the same text`);
  }
  const text = checkText(opts.segments, { language: opts.language, wordlist: opts.wordlist });
  if (text.garbage) reasons.push(text.garbage);

  if (opts.countMetric ?? true) {
    for (const r of reasons) metrics.transcriptsDegradedTotal.inc({ reason: reasonCode(r) });
  }
  return {
    status: reasons.length ? 'degraded' : 'valid',
    reasons,
    speech_coverage: coverage,
    repetition_ratio: scan.ratio,
    loop,
    text_check: text.check,
  };
}
