import type { ApiBody } from '@nestjs/swagger';

/** @nestjs/swagger does not export its SchemaObject type (package exports); take it from a decorator's options. */
type SchemaObject = Extract<NonNullable<Parameters<typeof ApiBody>[0]>, { schema?: unknown }>['schema'] & object;

/** Response shapes for the OpenAPI document (the contract of web/src/api/types.ts). */
const str = { type: 'string' } as const;
const nstr = { type: 'string', nullable: true } as const;
const int = { type: 'integer' } as const;
const STATES = ['pending', 'downloading', 'transcribing', 'enriching', 'indexing', 'projecting', 'done', 'failed', 'skipped'];

export const errorSchema: SchemaObject = {
  type: 'object',
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: str, message: str, details: {} } } },
};

export const feedSchema: SchemaObject = {
  type: 'object',
  properties: { id: str, url: str, title: nstr, image: nstr, link: nstr, last_polled_at: { ...nstr, format: 'date-time' }, last_error: nstr, error_count: int, episode_count: int },
};

const episodeSummary: Record<string, SchemaObject> = {
  episode_key: str,
  feed_id: str,
  feed_title: nstr,
  title: str,
  published_at: { ...nstr, format: 'date-time' },
  duration_s: { type: 'integer', nullable: true },
  state: { type: 'string', enum: STATES },
  state_reason: nstr,
  failed_stage: nstr,
  last_error: { ...nstr, description: 'why the last attempt failed (e.g. "cannot resolve the host of …"); null if it never failed' },
  updated_at: { type: 'string', format: 'date-time' },
};

export const episodePageSchema: SchemaObject = {
  type: 'object',
  properties: { items: { type: 'array', items: { type: 'object', properties: episodeSummary } }, next_cursor: { ...nstr, description: 'pass as ?cursor= for the next page; null on the last page' } },
};

export const episodeDetailSchema: SchemaObject = {
  type: 'object',
  properties: { ...episodeSummary, description: nstr, image: nstr, enclosure_url: nstr, audio_url: nstr },
};

export const searchSchema: SchemaObject = {
  type: 'object',
  properties: {
    query: str,
    took_ms: { type: 'number' },
    vector: { type: 'boolean', description: 'false when only Postgres full-text answered' },
    hits: {
      type: 'array',
      items: { type: 'object', properties: { chunk_id: str, episode_key: str, episode_title: nstr, feed_id: str, feed_title: nstr, start_ms: int, end_ms: int, snippet: str, score: { type: 'number' } } },
    },
  },
};
