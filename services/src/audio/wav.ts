import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { once } from 'node:events';
import { PodbrainError } from '../core/errors';

/** The 16 kHz mono s16 PCM WAV that preprocess writes and whisper.cpp reads. */
export const SAMPLE_RATE = 16_000;
const BYTES_PER_MS = (SAMPLE_RATE * 2) / 1000; // 32

export interface WavInfo {
  /** Byte offset of the first sample. */
  dataOffset: number;
  /** Bytes of sample data (from the file size: ffmpeg's header field overflows past 4 GiB). */
  dataBytes: number;
  durationMs: number;
}

/** Finds the `data` chunk of a RIFF/WAVE file written by ffmpeg (16 kHz mono s16 assumed). */
export async function readWavInfo(file: string): Promise<WavInfo> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(head, 0, head.length, 0);
    if (head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') {
      throw new PodbrainError('wav_invalid', `${file} is not a WAV file`);
    }
    let off = 12;
    while (off + 8 <= head.length) {
      const id = head.toString('ascii', off, off + 4);
      const len = head.readUInt32LE(off + 4);
      if (id === 'data') {
        const dataOffset = off + 8;
        const dataBytes = Math.max(0, size - dataOffset);
        return { dataOffset, dataBytes, durationMs: Math.floor(dataBytes / BYTES_PER_MS) };
      }
      off += 8 + len + (len % 2);
    }
    throw new PodbrainError('wav_invalid', `${file} has no data chunk`);
  } finally {
    await fh.close();
  }
}

function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff, dataBytes), 40);
  return h;
}

export interface WavPiece {
  /** Source range (ms). */
  start_ms: number;
  end_ms: number;
}

const msToByte = (ms: number) => Math.round(ms * (BYTES_PER_MS / 2)) * 2;

/**
 * Writes a WAV made of the given ranges of `source`, each followed by `gapMs` of silence
 * (so the ASR model still sees a pause between them). Returns where each range landed.
 */
export async function writeWavPieces(
  source: string,
  info: WavInfo,
  pieces: WavPiece[],
  out: string,
  gapMs = 0,
): Promise<{ start_ms: number; end_ms: number; at_ms: number }[]> {
  const placed: { start_ms: number; end_ms: number; at_ms: number }[] = [];
  const ranges = pieces.map((p) => {
    const a = Math.min(info.dataBytes, msToByte(Math.max(0, p.start_ms)));
    const b = Math.min(info.dataBytes, msToByte(Math.max(0, p.end_ms)));
    return { a, b };
  });
  const gap = Buffer.alloc(msToByte(gapMs));
  const total = ranges.reduce((n, r) => n + Math.max(0, r.b - r.a) + gap.length, 0);
  const ws = createWriteStream(out);
  const write = async (b: Buffer) => {
    if (!ws.write(b)) await once(ws, 'drain');
  };
  try {
    await write(wavHeader(total));
    let at = 0;
    for (const [i, r] of ranges.entries()) {
      if (r.b > r.a) {
        for await (const chunk of createReadStream(source, { start: info.dataOffset + r.a, end: info.dataOffset + r.b - 1 })) {
          await write(chunk as Buffer);
        }
      }
      placed.push({ start_ms: pieces[i].start_ms, end_ms: pieces[i].start_ms + (r.b - r.a) / BYTES_PER_MS, at_ms: at / BYTES_PER_MS });
      at += Math.max(0, r.b - r.a) + gap.length;
      if (gap.length) await write(gap);
    }
    ws.end();
    await once(ws, 'finish');
  } catch (e) {
    ws.destroy();
    throw e;
  }
  return placed;
}
