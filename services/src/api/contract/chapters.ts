import { z } from 'zod';

/**
 * The Chapters part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `chapterRequests` (spread into `schemas`).
 */
export const chapterRequests = {} satisfies Record<string, z.ZodTypeAny>;
