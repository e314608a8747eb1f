import { z } from 'zod';

/**
 * The Digests part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `digestRequests` (spread into `schemas`).
 */
export const digestRequests = {} satisfies Record<string, z.ZodTypeAny>;
