import { z } from 'zod';

/**
 * The SavedSearches part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `savedSearchRequests` (spread into `schemas`).
 */
export const savedSearchRequests = {} satisfies Record<string, z.ZodTypeAny>;
