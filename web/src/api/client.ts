import type {
  ApiError,
  EpisodeDetail,
  EpisodeSummary,
  FailureGroup,
  Feed,
  GraphView,
  HealthView,
  InsightView,
  JobInfo,
  Page,
  QueueInfo,
  SearchHit,
  SummaryView,
  TranscriptView,
} from './types';

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

const q = (params: Record<string, string | number | undefined | null>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const str = s.toString();
  return str ? `?${str}` : '';
};

export const api = {
  feeds: () => request<{ items: Feed[] }>('GET', '/feeds'),
  addFeed: (url: string) => request<Feed>('POST', '/feeds', { url }),
  deleteFeed: (id: string) => request<void>('DELETE', `/feeds/${encodeURIComponent(id)}`),
  refreshFeed: (id: string) => request<{ job_id: string }>('POST', `/feeds/${encodeURIComponent(id)}/refresh`),
  importOpml: (opml: string) => request<{ added: number; skipped: number; errors: string[] }>('POST', '/feeds/import', opml),
  exportOpmlUrl: () => `${base}/feeds/export`,
  episodes: (p: { limit?: number; cursor?: string | null; feed_id?: string; state?: string } = {}) =>
    request<Page<EpisodeSummary>>('GET', `/episodes${q(p)}`),
  episode: (key: string) => request<EpisodeDetail>('GET', `/episodes/${encodeURIComponent(key)}`),
  transcript: (key: string) => optional(request<TranscriptView>('GET', `/episodes/${encodeURIComponent(key)}/transcript`)),
  summary: (key: string) => optional(request<SummaryView>('GET', `/episodes/${encodeURIComponent(key)}/summary`)),
  insights: (key: string) => optional(request<{ insights: InsightView[] }>('GET', `/episodes/${encodeURIComponent(key)}/insights`)),
  episodeGraph: (key: string) => optional(request<GraphView>('GET', `/episodes/${encodeURIComponent(key)}/graph`)),
  graph: () => request<GraphView>('GET', '/graph'),
  search: (query: string, k = 20) => request<{ hits: SearchHit[] }>('GET', `/search${q({ q: query, k })}`),
  health: () => request<HealthView>('GET', '/health'),
  queues: () => request<{ queues: QueueInfo[] }>('GET', '/admin/queues'),
  pauseQueue: (name: string, paused: boolean) => request<void>('POST', `/admin/queues/${encodeURIComponent(name)}/${paused ? 'pause' : 'resume'}`),
  failedJobs: () => request<{ items: JobInfo[] }>('GET', '/admin/jobs?state=failed'),
  failures: () => request<{ groups: FailureGroup[]; total: number; truncated: boolean }>('GET', '/admin/failures'),
  retryFailures: (cause: string) => request<{ retried: number; skipped: number }>('POST', '/admin/failures/retry', { cause }),
  retryJob: (queue: string, id: string) => request<void>('POST', `/admin/jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}/retry`),
  eventsUrl: () => `${base}/events`,
};
