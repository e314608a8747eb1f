import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import type { Config } from '../../src/config/config';
import type { StageJobContext } from '../../src/jobs/stage.jobs';
import { StageJobs } from '../../src/jobs/stage.jobs';
import { createRoleContext, type RoleContext } from '../../src/roles/context';
import { createIndexStage } from '../../src/stages/index.stage';
import { apiConfig } from '../api-support';
import { fakeTranscribeStage, makeTranscript, tempDataDir } from './index-corpus';

/**
 * A worker's platform for saved-search tests and the benchmark: real Postgres, Redis (queues),
 * the real index stage (hash embeddings into FAISS) after a fake transcribe, StageJobs running
 * transcribe → index → project in this process, and a local webhook receiver for notifications.
 */
export interface WebhookCall {
  at: number;
  body: { kind: string; title: string; body: string; key: string; link: string | null };
}

export function webhookReceiver() {
  const calls: WebhookCall[] = [];
  const waiters: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls.push({ at: performance.now(), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.end('ok');
      waiters.splice(0).forEach((w) => w());
    });
  });
  return {
    calls,
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    },
    /** Resolves with the first call from index `from` on matching `pred`, or rejects after `ms`. */
    async next(pred: (c: WebhookCall) => boolean, from = 0, ms = 10_000): Promise<WebhookCall> {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = calls.slice(from).find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no webhook call within ${ms} ms (got ${calls.length})`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface SavedSearchPlatform {
  config: Config;
  ctx: RoleContext;
  jobs: StageJobs;
  pg: Client;
  /** Inserts the episode (pending), then runs transcribe, index and project as the workers would; answers when project committed. */
  process(feedId: string, key: string, title: string, sentences: string[]): Promise<number>;
  close(): Promise<void>;
}

const JOB: StageJobContext = { signal: new AbortController().signal, attempt: 1, maxAttempts: 3 };

export async function startSavedSearchPlatform(dbUrl: string, env: Record<string, string>): Promise<SavedSearchPlatform> {
  const dataDir = await tempDataDir('saved-search');
  const config = { ...apiConfig(dbUrl, { DATA_DIR: dataDir, EMBEDDINGS_PROVIDER: 'hash', EMBEDDINGS_DIM: '64', NOTIFY_REPEAT_WINDOW_S: '0', SMTP_HOST: '', NOTIFY_NTFY_URL: '', ...env }), role: 'worker' as const };
  const transcripts = new Map<string, ReturnType<typeof makeTranscript>>();
  const ctx = await createRoleContext(config, { stages: [fakeTranscribeStage(transcripts), createIndexStage()], poolSize: 4 });
  const jobs = new StageJobs(ctx);
  const pg = new Client({ connectionString: dbUrl });
  await pg.connect();
  return {
    config,
    ctx,
    jobs,
    pg,
    async process(feedId, key, title, sentences) {
      transcripts.set(key, makeTranscript(key, sentences));
      await pg.query(`INSERT INTO episodes (episode_key, feed_id, title, transcripts, source, state) VALUES ($1, $2, $3, '[]', $4, 'pending') ON CONFLICT DO NOTHING`, [
        key,
        feedId,
        title,
        JSON.stringify({ guid: key, title }),
      ]);
      for (const stage of ['transcribe', 'index'] as const) {
        const r = await jobs.runStage(stage, key, JOB);
        if (r !== 'done' && r !== 'reused') throw new Error(`${stage} of ${key}: ${r}`);
      }
      const r = await jobs.runProject(key, JOB);
      const committed = performance.now();
      if (r !== 'projected') throw new Error(`project of ${key}: ${r}`);
      return committed;
    },
    async close() {
      await pg.end();
      await ctx.close();
    },
  };
}
