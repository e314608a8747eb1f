import fs from 'node:fs/promises';
import ffmpeg from 'fluent-ffmpeg';
import { PodbrainError } from '../core/errors';

export interface AudioProbe {
  /** Container duration as ffprobe reports it (ms); null when unknown (streams, truncated files). */
  durationMs: number | null;
  /** Duration of the audio stream itself (ms), e.g. from an MP3's Xing header; null when unknown. */
  audioDurationMs: number | null;
  format: string;
  audioCodec: string;
  /** The file also has a video stream (audio gets extracted). */
  hasVideo: boolean;
}

/** ffprobe a local file; bad input (empty, not media, no audio stream) becomes a PodbrainError. */
export async function probeAudio(file: string): Promise<AudioProbe> {
  let size: number;
  try {
    size = (await fs.stat(file)).size;
  } catch (e) {
    throw new PodbrainError('audio_missing', `audio file ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (size === 0) throw new PodbrainError('audio_empty', `audio file ${file} is empty (0 bytes)`);

  const data = await new Promise<ffmpeg.FfprobeData>((resolve, reject) =>
    ffmpeg.ffprobe(file, (err: unknown, d: ffmpeg.FfprobeData) => (err ? reject(err) : resolve(d))),
  ).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException)?.code === 'ENOENT' || /Cannot find ffprobe/i.test(String(e)))
      throw new PodbrainError('ffmpeg_missing', 'ffprobe not found: install ffmpeg (apt-get install ffmpeg)');
    throw new PodbrainError('audio_unreadable', `${file} is not an audio or video file ffmpeg can read (${lastLine(String(e))})`);
  });

  const audio = data.streams.find((s) => s.codec_type === 'audio');
  if (!audio) {
    throw new PodbrainError('audio_no_stream', `${file} has no audio stream (streams: ${data.streams.map((s) => s.codec_type).join(', ') || 'none'})`);
  }
  const ms = (v: unknown) => {
    const seconds = Number(v);
    return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : null;
  };
  return {
    durationMs: ms(data.format.duration),
    audioDurationMs: ms(audio.duration),
    format: String(data.format.format_name ?? 'unknown'),
    audioCodec: String(audio.codec_name ?? 'unknown'),
    hasVideo: data.streams.some((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1),
  };
}

export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines[lines.length - 1] ?? text).slice(0, 300);
}
