import { z } from 'zod';
import { ApiError } from './errors';

/** Parses request input; a mismatch is a 400 that names the field and what was expected. */
export function parseInput<S extends z.ZodTypeAny>(schema: S, value: unknown, where: 'query' | 'body' | 'path'): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data as z.output<S>;
  const problems = r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
  throw new ApiError(400, 'invalid_request', `invalid ${where}: ${problems.join('; ')}`, { problems });
}

const HTTP_URL = /^https?:\/\//i;

export const schemas = {
  addFeed: z.object({ url: z.string().trim().min(1, 'required').max(2048).refine((u) => HTTP_URL.test(u) && URL.canParse(u), 'must be an http(s) URL') }).strict(),
  subscribe: z.object({ feed_id: z.string().trim().min(1).max(200) }).strict(),
  episodeList: z.object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(500).optional(),
    feed_id: z.string().max(200).optional(),
    state: z.enum(['pending', 'downloading', 'transcribing', 'enriching', 'indexing', 'projecting', 'done', 'failed', 'skipped']).optional(),
  }),
  search: z.object({
    q: z.string({ error: 'required' }).trim().min(1, 'give some words to search for').max(1000),
    k: z.coerce.number().int().min(1).max(100).optional(),
  }),
  adminJobs: z.object({
    state: z.enum(['failed', 'stuck', 'waiting', 'active', 'delayed', 'completed']).default('failed'),
    queue: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  }),
  key: z.string().min(1).max(200).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : or -'),
};
