// The HTTP API as the viewer calls it. Every route, parameter and answer is typed by
// ./schema.d.ts, which `npm run gen:api` generates from the API's OpenAPI document (the zod
// contract in services/src/api/contract): nothing here restates a shape.
import type { ApiError, paths } from './schema';
import { waitForSignIn } from './sign-in';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const base = (import.meta.env.VITE_API_BASE as string | undefined) ?? '/api';

const API_KEY_STORAGE = 'podbrain.apiKey';

/** The API key (AUTH_API_KEY on the server) this browser sends with every call, if any. */
export const apiKey = {
  get: () => localStorage.getItem(API_KEY_STORAGE),
  set: (key: string | null) => (key ? localStorage.setItem(API_KEY_STORAGE, key) : localStorage.removeItem(API_KEY_STORAGE)),
};

function authHeaders(): Record<string, string> {
  const key = apiKey.get();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function request<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
  let payload: BodyInit | undefined;
  if (typeof body === 'string') {
    payload = body;
    headers['Content-Type'] = 'text/xml';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body: payload, ...init });
  const text = await res.text();
  const data = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  if (!res.ok) {
    const err = (data as ApiError)?.error;
    // A private server (AUTH_READS): ask for the key once (SignInGate), then read again.
    if (res.status === 401 && err?.code === 'sign_in_required' && method === 'GET') {
      await waitForSignIn();
      return request<T>(method, path, body, init);
    }
    let message = err?.message ?? (typeof data === 'string' && data ? data : res.statusText);
    if (res.status === 401) message += ' — set the API key on the Admin page';
    throw new HttpError(res.status, err?.code ?? `http_${res.status}`, message);
  }
  return data as T;
}

/** An episode's transcript, summary, … are 404 until that stage has run: "not yet", not an error. */
async function optional<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return null;
    throw e;
  }
}

const q = (params: object) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const str = s.toString();
  return str ? `?${str}` : '';
};

// Types of one route of the generated document.
type Route = keyof paths;
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Operation<R extends Route, M extends Method> = NonNullable<paths[R][M]>;
type Json<A> = A extends { content: { 'application/json': infer B } } ? B : never;
type Success<R extends Route, M extends Method> = Operation<R, M> extends { responses: infer A } ? Json<A[Extract<keyof A, 200 | 201 | 202>]> : never;
/** The JSON answer of a route (void for a 204). */
type Answer<R extends Route, M extends Method> = [Success<R, M>] extends [never] ? void : Success<R, M>;
type PathParams<R extends Route, M extends Method> = Operation<R, M> extends { parameters: { path: infer P } } ? P : never;
type QueryParams<R extends Route, M extends Method> = Operation<R, M> extends { parameters: { query?: infer Q } } ? Q : never;
type Body<R extends Route, M extends Method> = Operation<R, M> extends { requestBody?: { content: infer C } } ? C[keyof C] : never;

/** A call of one route: its path parameters filled in (encoded), its query string, its body. */
function call<R extends Route, M extends Method>(
  method: M,
  route: R,
  opts: { path?: PathParams<R, M>; query?: QueryParams<R, M>; body?: Body<R, M> } = {},
): Promise<Answer<R, M>> {
  const params = (opts.path ?? {}) as Record<string, string>;
  const path = route.replace(/^\/api/, '').replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]));
  return request<Answer<R, M>>(method.toUpperCase(), `${path}${opts.query ? q(opts.query) : ''}`, opts.body);
}

export const api = {
  feeds: () => call('get', '/api/feeds'),
  /** `policy`: backfill, include/exclude title filters, duration bounds (the server's default backfill when left out). */
  addFeed: (url: string, policy: Omit<Body<'/api/feeds', 'post'>, 'url'> = {}) => call('post', '/api/feeds', { body: { url, ...policy } }),
  /** Pause/resume and the policy; only the fields given change. */
  updateFeed: (id: string, body: Body<'/api/feeds/{id}', 'patch'>) => call('patch', '/api/feeds/{id}', { path: { id }, body }),
  processSkipped: (id: string) => call('post', '/api/feeds/{id}/process-skipped', { path: { id } }),
  /** "Process now": a skipped or failed episode is queued ahead of the backlog; a queued one moves up. */
  processEpisode: (key: string) => call('post', '/api/episodes/{key}/process', { path: { key } }),
  deleteFeed: (id: string) => call('delete', '/api/feeds/{id}', { path: { id } }),
  refreshFeed: (id: string) => call('post', '/api/feeds/{id}/refresh', { path: { id } }),
  importOpml: (opml: string) => call('post', '/api/feeds/import', { body: opml }),
  exportOpmlUrl: () => `${base}/feeds/export`,
  /** One followed feed with its private re-feed URL (refeed_url; null once revoked). */
  feed: (id: string) => call('get', '/api/feeds/{id}', { path: { id } }),
  /** The combined re-feed (every followed feed) and its URL. */
  combinedRefeed: () => call('get', '/api/refeed'),
  /** A new re-feed URL for the feed (null: the combined one); the old URL stops working. */
  rotateRefeed: (id: string | null) => (id ? call('post', '/api/feeds/{id}/refeed/rotate', { path: { id } }) : call('post', '/api/refeed/rotate')),
  /** The feed's episodes as Markdown notes in a zip. */
  feedZipUrl: (id: string) => `${base}/export/feeds/${encodeURIComponent(id)}.zip`,
  /** The episode as a Markdown note (Obsidian-friendly). */
  episodeMarkdownUrl: (key: string) => `${base}/episodes/${encodeURIComponent(key)}/export.md`,
  /** `cursor`: the page's next_cursor (null: the first page). */
  episodes: ({ cursor, ...p }: Omit<NonNullable<QueryParams<'/api/episodes', 'get'>>, 'cursor'> & { cursor?: string | null } = {}) =>
    call('get', '/api/episodes', { query: { ...p, cursor: cursor ?? undefined } }),
  episode: (key: string) => call('get', '/api/episodes/{key}', { path: { key } }),
  transcript: (key: string) => optional(call('get', '/api/episodes/{key}/transcript', { path: { key } })),
  summary: (key: string) => optional(call('get', '/api/episodes/{key}/summary', { path: { key } })),
  insights: (key: string) => optional(call('get', '/api/episodes/{key}/insights', { path: { key } })),
  episodeGraph: (key: string) => optional(call('get', '/api/episodes/{key}/graph', { path: { key } })),
  /** The episode's chapters (publisher or generated): `{source, items}`, items [] when none. */
  chapters: (key: string) => optional(call('get', '/api/episodes/{key}/chapters', { path: { key } })),
  graph: () => call('get', '/api/graph'),
  /** The caller's playback state of an episode (position 0, unplayed when never saved). */
  playback: (key: string) => call('get', '/api/episodes/{key}/playback', { path: { key } }),
  /** Saves the player's position (and played); `keepalive` lets it finish while the page unloads. */
  savePlayback: (key: string, body: Body<'/api/episodes/{key}/playback', 'put'>, keepalive = false) =>
    request<Answer<'/api/episodes/{key}/playback', 'put'>>('PUT', `/episodes/${encodeURIComponent(key)}/playback`, body, { keepalive }),
  /** The caller's started, unplayed episodes, most recently listened first (the Library's "Continue listening"). */
  continueListening: (limit = 12) => call('get', '/api/playback', { query: { filter: 'in_progress', limit } }),
  /** Marks episodes played (position kept) or unplayed (position back to 0). */
  markPlayed: (keys: string[], played: boolean) => call('post', '/api/playback/mark', { body: { episode_keys: keys, played } }),
  search: (query: string, k = 20) => call('get', '/api/search', { query: { q: query, k } }),
  health: () => call('get', '/api/health'),
  queues: () => call('get', '/api/admin/queues'),
  pauseQueue: (name: string, paused: boolean) =>
    paused ? call('post', '/api/admin/queues/{name}/pause', { path: { name } }) : call('post', '/api/admin/queues/{name}/resume', { path: { name } }),
  failedJobs: () => call('get', '/api/admin/jobs', { query: { state: 'failed' } }),
  failures: () => call('get', '/api/admin/failures'),
  stale: () => call('get', '/api/admin/stale'),
  reprocessStale: (body: Body<'/api/admin/reprocess-stale', 'post'> = {}) => call('post', '/api/admin/reprocess-stale', { body }),
  retryFailures: (cause: string) => call('post', '/api/admin/failures/retry', { body: { cause } }),
  retryJob: (queue: string, id: string) => call('post', '/api/admin/jobs/{queue}/{id}/retry', { path: { queue, id } }),
  eventsUrl: () => `${base}/events`,
  /** The session cookie for `<audio>` and the event stream, made with the stored key (POST /api/session). */
  startSession: () => call('post', '/api/session'),
  /** Signs out: the server clears the session cookie (HttpOnly: the page cannot), with the stored key (DELETE /api/session). */
  endSession: () => call('delete', '/api/session'),
  incidents: ({ cursor, ...p }: Omit<NonNullable<QueryParams<'/api/admin/incidents', 'get'>>, 'cursor'> & { cursor?: string | null } = {}) =>
    call('get', '/api/admin/incidents', { query: { ...p, cursor: cursor ?? undefined } }),
  incident: (id: string) => call('get', '/api/admin/incidents/{id}', { path: { id } }),
  /** Yes / no to an action that is awaiting approval (`n`: its number in the incident); answers the incident as it is now. */
  decideAction: (id: string, n: number, decision: 'approve' | 'deny') =>
    decision === 'approve'
      ? call('post', '/api/admin/incidents/{id}/actions/{n}/approve', { path: { id, n } })
      : call('post', '/api/admin/incidents/{id}/actions/{n}/deny', { path: { id, n } }),
  savedSearches: () => call('get', '/api/saved-searches'),
  /** Saves a search that notifies when a new episode matches it (name: the query when left out). */
  saveSearch: (body: Body<'/api/saved-searches', 'post'>) => call('post', '/api/saved-searches', { body }),
  /** Only the fields given change. */
  updateSavedSearch: (id: string, body: Body<'/api/saved-searches/{id}', 'patch'>) => call('patch', '/api/saved-searches/{id}', { path: { id }, body }),
  deleteSavedSearch: (id: string) => call('delete', '/api/saved-searches/{id}', { path: { id } }),
  savedSearchHits: (id: string, limit = 10) => call('get', '/api/saved-searches/{id}/hits', { path: { id }, query: { limit } }),
  savedSearchMarkdownUrl: (id: string) => `${base}/saved-searches/${encodeURIComponent(id)}/hits.md`,
  agentSettings: () => call('get', '/api/admin/agent'),
  setAgentSettings: (body: Body<'/api/admin/agent', 'put'>) => call('put', '/api/admin/agent', { body }),
  /** Digests (issue 17): newest first, `before` a digest id for the next page; latest is null while there is none. */
  digests: (before?: string | null) => call('get', '/api/digests', { query: { limit: 20, before: before ?? undefined } }),
  latestDigest: () => optional(call('get', '/api/digests/latest')),
  digest: (id: string) => call('get', '/api/digests/{id}', { path: { id } }),
  generateDigest: (body: Body<'/api/digests', 'post'> = {}) => call('post', '/api/digests', { body }),
  digestMarkdownUrl: (id: string) => `${base}/digests/${encodeURIComponent(id)}.md`,
  digestFeedUrl: () => `${base}/digests/feed.xml`,
};

/** A refusal for want of the right API key: the page shows the key form instead of an error. */
export const isAuthError = (e: unknown): boolean => e instanceof HttpError && (e.status === 401 || e.status === 403);
