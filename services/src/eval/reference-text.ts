import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseTranscript } from '../asr/feed/formats';
import { PodbrainError } from '../core/errors';

/** Hypothesis/reference file extensions `eval wer` pairs up in directory mode, best first. */
export const TRANSCRIPT_EXTENSIONS = ['.json', '.vtt', '.srt', '.txt'] as const;

/**
 * The plain text of a transcript file for scoring: podbrain's transcript.json (segments),
 * an OpenAI verbose_json / `{text}` document, SRT, WebVTT or plain text.
 */
export function readTranscriptText(file: string): string {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new PodbrainError('eval_unreadable', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') {
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch (e) {
      throw new PodbrainError('eval_bad_json', `${file} is not valid JSON: ${(e as Error).message}`);
    }
    const o = doc as { segments?: { text?: unknown; body?: unknown }[]; text?: unknown };
    if (Array.isArray(o?.segments) && o.segments.length) {
      return o.segments.map((s) => (typeof s?.text === 'string' ? s.text : typeof s?.body === 'string' ? s.body : '')).join(' ');
    }
    if (typeof o?.text === 'string') return o.text;
    if (Array.isArray(o?.segments)) return '';
    throw new PodbrainError('eval_bad_json', `${file} has neither "segments" nor "text": not a transcript`);
  }
  if (ext === '.srt' || ext === '.vtt') return parseTranscript(raw, ext === '.srt' ? 'srt' : 'vtt').segments.map((s) => s.text).join(' ');
  return raw;
}

export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
