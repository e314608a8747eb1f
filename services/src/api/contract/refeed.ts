import { z } from 'zod';

/**
 * The Refeed part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `refeedRequests` (spread into `schemas`).
 */
export const refeedRequests = {} satisfies Record<string, z.ZodTypeAny>;
