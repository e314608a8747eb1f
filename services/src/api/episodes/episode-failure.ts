import type { EpisodeFailureView } from '../contract/responses';
import { failureCause } from '../admin/failure-cause';

/** Errors that come back the same on a retry until the publisher fixes something (net/http-client.ts statusError's non-retryable codes, wrong content). */
const PERMANENT = /\bHTTP 4(?!08|29)\d\d\b|\bis not audio\b|\bno enclosure\b|\bnot an audio\b/i;
/** Errors that say the publisher's side is broken (the player would fetch the same URL): no point offering the enclosure to play. */
const SOURCE_BROKEN = /\bHTTP [45]\d\d\b|\bis not audio\b|cannot resolve the host|ENOTFOUND|ECONNREFUSED|certificate/i;

export interface FailureRow {
  state: string;
  failed_stage: string | null;
  last_error: string | null;
  state_reason: string | null;
  attempts: number;
}

/**
 * Why a failed episode failed, for its page: the stage, the cause as the Admin page groups it
 * (admin/failure-cause.ts), the bare message, the attempts used, and whether a retry is expected
 * to help. Null unless the episode is `failed`.
 */
export function episodeFailure(r: FailureRow): EpisodeFailureView | null {
  if (r.state !== 'failed') return null;
  const message = r.last_error ?? r.state_reason;
  return {
    stage: r.failed_stage,
    cause: failureCause(message),
    message,
    attempts: r.attempts,
    retryable: !message || !PERMANENT.test(message),
  };
}

/** Whether the failure is the publisher's audio itself (gone, not audio, host unreachable) at download: the player has nothing to play either. */
export function audioUnplayable(f: EpisodeFailureView | null): boolean {
  return !!f && f.stage === 'ingest' && !!f.message && SOURCE_BROKEN.test(f.message);
}
