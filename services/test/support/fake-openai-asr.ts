/**
 * A local stand-in for an OpenAI-compatible ASR server (node:http on 127.0.0.1):
 * POST /v1/audio/transcriptions with a multipart upload, answering verbose_json.
 *
 *   const asr = await startFakeOpenAiAsr(fail(2, 500, speech()));   // 500, 500, then 200
 *   const config = loadConfig({ env: { OPENAI_BASE_URL: asr.baseUrl, ... } });
 *   asr.requests  // every upload: bytes, file name/type, form fields, duration (ffprobe)
 *   asr.behave(loop('Thank you.', 40));
 *   await asr.close();
 *
 * Behaviours: speech() (one segment per upload spanning its real duration, text `part N`),
 * empty() (200 with no text), loop() (200 with a repeated phrase), garbage() (200 with an HTML
 * page), fail(n, status, then) (n failures, then `then`), reply(fn) (anything).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface FakeAsrRequest {
  index: number;
  path: string;
  authorization: string | null;
  bytes: number;
  filename: string;
  fileType: string;
  fields: Record<string, string[]>;
  /** Duration of the uploaded audio (ffprobe), seconds; null when unreadable. */
  durationS: number | null;
}

export interface FakeAsrReply {
  status?: number;
  /** JSON body (default content-type application/json). */
  json?: unknown;
  /** Raw body, sent as is. */
  body?: string;
  headers?: Record<string, string>;
}

export type Behaviour = (req: FakeAsrRequest) => FakeAsrReply;

export interface FakeOpenAiAsr {
  /** OPENAI_BASE_URL for this server (…/v1). */
  baseUrl: string;
  requests: FakeAsrRequest[];
  behave(b: Behaviour): void;
  close(): Promise<void>;
}

const verbose = (segments: { start: number; end: number; text: string }[], duration: number) => ({
  task: 'transcribe',
  language: 'english',
  duration,
  text: segments.map((s) => s.text).join(' '),
  segments: segments.map((s, id) => ({ id, seek: 0, start: s.start, end: s.end, text: ` ${s.text}`, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1.2, no_speech_prob: 0.01 })),
});

/** 200: one segment per upload spanning the uploaded audio, text `part <index>`. */
export const speech = (): Behaviour => (req) => {
  const d = req.durationS ?? 1;
  return { json: verbose([{ start: 0, end: d, text: `part ${req.index}` }], d) };
};

/** 200 with an empty transcript (a busy server's favourite answer). */
export const empty = (): Behaviour => (req) => ({ json: verbose([], req.durationS ?? 0) });

/** 200 with a looping transcript: `phrase` once per `segmentS` seconds. */
export const loop =
  (phrase = 'Thank you.', times = 40, segmentS = 2): Behaviour =>
  () => ({ json: verbose(Array.from({ length: times }, (_, i) => ({ start: i * segmentS, end: (i + 1) * segmentS, text: phrase })), times * segmentS) });

/** 200 with an HTML error page instead of JSON. */
export const garbage = (): Behaviour => () => ({ body: '<html><body>502 Bad Gateway (but with 200)</body></html>', headers: { 'content-type': 'text/html' } });

/** `n` answers with `status` (JSON error body, optional headers), then `then`. */
export function fail(n: number, status: number, then: Behaviour, headers: Record<string, string> = {}): Behaviour {
  let left = n;
  return (req) => {
    if (left > 0) {
      left--;
      return { status, headers, json: { error: { message: `fake failure ${n - left}/${n}`, type: 'server_error', code: null } } };
    }
    return then(req);
  };
}

export const reply = (fn: Behaviour): Behaviour => fn;

async function probeDuration(buf: Buffer): Promise<number | null> {
  // A file, not a pipe: ffprobe cannot tell the duration of an MP3 read from stdin.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'podbrain-fake-asr-'));
  const file = path.join(dir, 'upload');
  try {
    await writeFile(file, buf);
    const out = await new Promise<string>((resolve) => {
      execFile('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], (err, stdout) => resolve(err ? '' : stdout));
    });
    const s = Number(out.trim());
    return Number.isFinite(s) && s > 0 ? s : null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeOpenAiAsr(initial: Behaviour = speech()): Promise<FakeOpenAiAsr> {
  let behaviour = initial;
  const requests: FakeAsrRequest[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'POST' || url !== '/v1/audio/transcriptions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${url}` } }));
        return;
      }
      const raw = await readBody(req);
      // Node's fetch implementation parses multipart for us.
      const form = await new Request('http://fake/', { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body: raw }).formData();
      const fields: Record<string, string[]> = {};
      let file: File | null = null;
      for (const [k, v] of form.entries()) {
        if (typeof v === 'string') (fields[k] ??= []).push(v);
        else file = v as File;
      }
      const buf = file ? Buffer.from(await file.arrayBuffer()) : Buffer.alloc(0);
      const entry: FakeAsrRequest = {
        index: requests.length,
        path: url,
        authorization: req.headers.authorization ?? null,
        bytes: buf.length,
        filename: file?.name ?? '',
        fileType: file?.type ?? '',
        fields,
        durationS: buf.length ? await probeDuration(buf) : null,
      };
      requests.push(entry);
      const r = behaviour(entry);
      const headers = { 'content-type': 'application/json', ...r.headers };
      res.writeHead(r.status ?? 200, headers).end(r.body ?? JSON.stringify(r.json ?? {}));
    })().catch((e) => {
      if (!res.headersSent) res.writeHead(599).end(String(e));
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    behave: (b) => void (behaviour = b),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
