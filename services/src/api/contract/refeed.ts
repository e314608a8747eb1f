import { z } from 'zod';

/**
 * The Refeed part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `refeedRequests` (spread into `schemas`).
 */
export const refeedRequests = {
  /** The secret in a re-feed URL: 32 random bytes as base64url. Anything else is simply not found. */
  refeedToken: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  /** GET /api/episodes/:key/export.md?transcript=true */
  episodeExport: z.object({ transcript: z.enum(['true', 'false', '1', '0']).optional().describe('append the whole transcript (timestamped paragraphs)') }),
} satisfies Record<string, z.ZodTypeAny>;

export const refeedUrl = z
  .string()
  .nullable()
  .describe('the private RSS feed for podcast apps (the secret token in it is the credential: share it like a password); null: revoked (POST …/rotate makes a new one)');

export const refeedLink = z.object({
  feed_id: z.string().nullable().describe('the followed feed; null: the combined feed of every followed feed'),
  url: refeedUrl,
  digests_url: z.string().nullable().describe("the combined re-feed only: the digests as RSS through the same token (feed readers cannot send a key while reads are private); null for a single feed's link or once revoked"),
});

export type RefeedLinkView = z.output<typeof refeedLink>;
