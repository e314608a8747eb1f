/**
 * CONTRACT STUB of the HTTP API (typed by web/src/api/schema.d.ts, generated from the API's OpenAPI document), in memory.
 * It lets the UI specs and the viewer benchmark exercise states that are hard to reach
 * with the real platform (a failed job, an ungrounded insight, a 3-hour transcript, an
 * API that is down). The end-to-end flow against the real api lives in e2e/real/.
 *
 * Adding a feed creates two episodes: the first walks pending → … → done (one state per
 * `stepMs`, each change pushed over SSE), the second fails at transcribing.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  AgentSettings,
  ChapterList,
  Digest,
  EpisodeDetail,
  EpisodeEvent,
  EpisodeState,
  Feed,
  GraphView,
  Incident,
  InsightView,
  JobInfo,
  Playback,
  QueueInfo,
  SavedSearch,
  SavedSearchHit,
  SearchHit,
  Segment,
  SummaryView,
  TranscriptView,
} from '../../src/api/schema';
import { fixture } from './paths';

interface StubEpisode {
  detail: EpisodeDetail;
  transcript: TranscriptView | null;
  summary: SummaryView | null;
  insights: InsightView[];
  graph: GraphView;
  /** GET /api/episodes/:key/chapters once done (issue 17). */
  chapters: ChapterList;
  /** Where the state machine stops (failed episodes stop at transcribing). */
  fails?: string;
}

export interface StubApi {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  feeds: Feed[];
  episodes: Map<string, StubEpisode>;
  /** Every request the viewer made: `GET /api/episodes?limit=50`. */
  requests: string[];
  /** Make every /api call fail with 503 (error states). */
  down: boolean;
  /** Like AUTH_API_KEY: when set, writes and admin/* need `Authorization: Bearer <key>`. */
  apiKey: string | null;
  addFeed(url: string): Feed;
  addLongEpisode(segmentCount: number): string;
  /** Adds `count` failed jobs with one cause (the Admin page's groups), e.g. 56 identical download failures. */
  addFailedJobs(count: number, over?: Partial<JobInfo>): void;
  /** The on-call agent's side: incidents (newest first) and its settings. */
  incidents: Incident[];
  agent: AgentSettings;
  /** Opens an incident (PodbrainDiskLow with one action awaiting approval unless `over` says otherwise), signalled over SSE. */
  addIncident(over?: Partial<Incident>): Incident;
  /** Stored digests, newest first; POST /api/digests adds stubDigest()'s. */
  digests: Digest[];
  /** Saved searches (newest first) and their hits by search id; POST /api/saved-searches adds one. */
  savedSearches: SavedSearch[];
  savedSearchHits: Map<string, SavedSearchHit[]>;
  /** Playback state by episode key (issue 18: PUT/GET /api/episodes/:key/playback, POST /api/playback/mark); episode reads carry it. */
  playback: Map<string, Playback>;
  /** Every playback write the viewer made, in order: `{key, body}` of a PUT, `{key: '*mark', body}` of a mark. */
  playbackWrites: { key: string; body: Record<string, unknown> }[];
  close(): void;
}

/** A digest with two stories across shows, trends and show lines (over: changes on top). */
export function stubDigest(id: string, over: Partial<Digest> = {}): Digest {
  const to = new Date(Date.UTC(2026, 11, 7, 6));
  const from = new Date(to.getTime() - 7 * 86_400_000);
  const ep = (episode_key: string, title: string, feed_id: string, feed_title: string) => ({ episode_key, title, feed_id, feed_title });
  return {
    id,
    from: from.toISOString(),
    to: to.toISOString(),
    kind: 'weekly',
    trigger: 'manual',
    created_at: to.toISOString(),
    duration_ms: 412,
    episodes: [
      { ...ep('money-etf', 'The ETF that changed bitcoin', 'money', 'Money Talk'), published_at: '2026-12-05T10:00:00.000Z', state: 'done', summary: 'Spot bitcoin ETFs and institutional money' },
      { ...ep('tech-etf', 'Wall Street buys bitcoin', 'tech', 'Tech Weekly'), published_at: '2026-12-04T10:00:00.000Z', state: 'done', summary: 'How a spot bitcoin ETF works' },
      { ...ep('garden-sourdough', 'Starters, not seeds', 'garden', 'Garden Hour'), published_at: '2026-12-03T10:00:00.000Z', state: 'done', summary: 'Keeping a sourdough starter alive' },
      { ...ep('tech-pending', 'Not transcribed yet', 'tech', 'Tech Weekly'), published_at: '2026-12-06T10:00:00.000Z', state: 'pending', summary: null },
    ],
    clusters: [
      {
        title: 'Wall Street gets its bitcoin ETF',
        title_source: 'llm',
        episodes: [ep('money-etf', 'The ETF that changed bitcoin', 'money', 'Money Talk'), ep('tech-etf', 'Wall Street buys bitcoin', 'tech', 'Tech Weekly')],
        entities: ['Bitcoin', 'SEC'],
        quotes: [
          { text: 'The day the SEC approved the spot bitcoin ETF, institutional money started buying bitcoin.', episode_key: 'money-etf', start_ms: 754_000, episode_title: 'The ETF that changed bitcoin', feed_title: 'Money Talk' },
          { text: 'With a spot bitcoin ETF, institutions can hold bitcoin without touching a wallet.', episode_key: 'tech-etf', start_ms: 1_203_500, episode_title: 'Wall Street buys bitcoin', feed_title: 'Tech Weekly' },
        ],
        feeds: 2,
      },
      {
        title: 'Sourdough',
        title_source: 'extractive',
        episodes: [ep('garden-sourdough', 'Starters, not seeds', 'garden', 'Garden Hour'), ep('money-etf', 'The ETF that changed bitcoin', 'money', 'Money Talk')],
        entities: ['Sourdough'],
        quotes: [{ text: 'Feed your sourdough starter flour and water every day.', episode_key: 'garden-sourdough', start_ms: 95_000, episode_title: 'Starters, not seeds', feed_title: 'Garden Hour' }],
        feeds: 2,
      },
    ],
    trends: [
      { label: 'Bitcoin', kind: 'topic', count: 2, before: 0, change: 'new' },
      { label: 'Interest rates', kind: 'topic', count: 3, before: 1, change: 'rising' },
      { label: 'Roses', kind: 'topic', count: 0, before: 1.5, change: 'falling' },
    ],
    shows: [
      { feed_id: 'money', feed_title: 'Money Talk', episodes: 1, line: 'Spot bitcoin ETFs and institutional money' },
      { feed_id: 'tech', feed_title: 'Tech Weekly', episodes: 2, line: 'How a spot bitcoin ETF works; Not transcribed yet (1 not processed yet)' },
      { feed_id: 'garden', feed_title: 'Garden Hour', episodes: 1, line: 'Keeping a sourdough starter alive' },
    ],
    stats: { episodes: 4, processed: 3, passages: 9, trend_windows: 4, llm_problem: null, embeddings: 'hash hash-v1' },
    ...over,
  };
}

const JFK_AUDIO = fixture('audio', 'jfk.mp3');
const JFK_SEGMENTS: Segment[] = [
  { start_ms: 0, end_ms: 3000, text: 'And so, my fellow Americans,', speaker: 'JFK' },
  { start_ms: 3000, end_ms: 5500, text: 'ask not', speaker: 'JFK' },
  { start_ms: 5500, end_ms: 8000, text: 'what your country can do for you,', speaker: 'JFK' },
  { start_ms: 8000, end_ms: 11000, text: 'ask what you can do for your country.', speaker: 'JFK' },
];
const FLOW: EpisodeState[] = ['pending', 'downloading', 'transcribing', 'enriching', 'indexing', 'projecting', 'done'];
const LOREM = 'so the thing about compilers is that every pass wants its own view of the program and the trick is keeping them honest';

export function createStubApi(opts: { stepMs?: number } = {}): StubApi {
  const stepMs = opts.stepMs ?? 250;
  const feeds: Feed[] = [];
  const episodes = new Map<string, StubEpisode>();
  const failedJobs: JobInfo[] = [];
  const clients = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  const requests: string[] = [];
  const queues: QueueInfo[] = ['ingest', 'transcribe', 'enrich', 'index', 'project'].map((name, i) => ({
    name,
    waiting: i,
    active: i % 2,
    delayed: 0,
    failed: 0,
    completed: 10 * (i + 1),
    paused: false,
  }));

  function emit(e: EpisodeEvent) {
    for (const c of clients) c.write(`event: episode\ndata: ${JSON.stringify(e)}\n\n`);
  }

  function signalIncident(i: Incident, kind: string) {
    const e = { id: i.id, status: i.status, kind, at: new Date().toISOString() };
    for (const c of clients) c.write(`event: incident\ndata: ${JSON.stringify(e)}\n\n`);
  }

  function addIncident(over: Partial<Incident> = {}): Incident {
    const at = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    const id = String(api.incidents.length + 1);
    const incident: Incident = {
      id,
      alert: 'PodbrainDiskLow',
      fingerprint: `stub-${id}`,
      labels: { alertname: 'PodbrainDiskLow', path: '/data', role: 'worker-io', severity: 'P1' },
      annotations: { runbook: 'disk-low', summary: 'Less than 10 GiB free on /data' },
      runbook: 'disk-low',
      status: 'open',
      mode: api.agent.mode,
      opened_at: at(0),
      resolved_at: null,
      updated_at: at(3),
      summary: null,
      events: [
        { at: at(0), kind: 'opened', message: 'PodbrainDiskLow (path=/data, role=worker-io) is firing', data: {} },
        { at: at(1), kind: 'diagnose', message: 'How much is free on the volume?: ok', data: { kind: 'query', status: 'ok', output: '{path="/data"} 8123456789\n(truncated)' } },
        { at: at(2), kind: 'diagnose', message: 'What is large?: for-human', data: { kind: 'command', status: 'for-human', output: 'docker system df -v' } },
      ],
      actions: [
        { n: 1, id: 'clean-audio', action: 'clean-artifacts', args: { older_than: '30d' }, mode: 'approve', status: 'awaiting_approval', at: at(3), detail: 'waiting for approval', decided_by: null },
        { n: 2, id: 'prune-images', action: null, args: {}, mode: 'manual', status: 'proposed', at: at(3), detail: 'for a human: docker image prune -f', decided_by: null },
      ],
      ...over,
    };
    api.incidents.unshift(incident);
    signalIncident(incident, 'opened');
    return incident;
  }

  function setState(ep: StubEpisode, state: EpisodeState, reason: string | null = null) {
    ep.detail.state = state;
    ep.detail.state_reason = reason;
    ep.detail.failed_stage = state === 'failed' ? ep.fails ?? null : null;
    // As the api words it (episode detail `failure`): only while failed.
    const error = reason?.replace(/^\w+: /, '') ?? null;
    ep.detail.failure = state === 'failed' ? { stage: ep.fails ?? null, cause: error ?? 'unknown', message: error, attempts: 3, retryable: !/HTTP 4\d\d/.test(error ?? '') } : null;
    ep.detail.updated_at = new Date().toISOString();
    emit({ episode_key: ep.detail.episode_key, feed_id: ep.detail.feed_id, state, stage: null, reason, at: ep.detail.updated_at });
  }

  function walk(ep: StubEpisode, from = 0) {
    let i = from;
    const tick = () => {
      i++;
      if (ep.fails && FLOW[i] === 'enriching') {
        setState(ep, 'failed', 'transcribe: enclosure returned HTTP 404');
        const q = queues.find((x) => x.name === 'transcribe')!;
        q.failed++;
        ep.detail.last_error = 'enclosure returned HTTP 404';
        failedJobs.push({ id: `transcribe:${ep.detail.episode_key}`, queue: 'transcribe', name: 'transcribe', episode_key: ep.detail.episode_key, failed_reason: 'enclosure returned HTTP 404', cause: 'enclosure returned HTTP 404', attempts: 3, timestamp: Date.now(), processed_on: null, finished_on: null });
        return;
      }
      if (i >= FLOW.length) return;
      setState(ep, FLOW[i]);
      if (FLOW[i] !== 'done') schedule(tick);
    };
    schedule(tick);
  }

  function schedule(fn: () => void) {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, stepMs);
    timers.add(t);
  }

  function makeEpisode(feed: Feed, n: number, over: Partial<EpisodeDetail> = {}, fails?: string): StubEpisode {
    const key = `${feed.id}-ep${n}`;
    const detail: EpisodeDetail = {
      episode_key: key,
      feed_id: feed.id,
      feed_title: feed.title,
      title: n === 1 ? 'Ask not what your country can do for you' : `Episode ${n}: the one with the broken link`,
      published_at: new Date(Date.UTC(2026, 10, 20 - n)).toISOString(),
      duration_s: 11,
      state: 'pending',
      state_reason: null,
      failed_stage: null,
      last_error: null,
      updated_at: new Date().toISOString(),
      position_ms: 0,
      played: false,
      description: 'A short speech.',
      image: feed.image,
      // As the server sends it: sanitised (services/src/text/show-notes.ts). The entity-escaped
      // "tag" is text, and a <script> inserted as HTML never runs: the page must show both inert.
      show_notes_html:
        n === 1
          ? '<p>The inaugural address, 1961. At 0:08 the famous line; from 0:03 the question.</p><p>&lt;img src=x onerror="window.__pwned=1"&gt;</p><script>window.__pwned = 2</script><ul><li><a href="https://example.com/jfk" rel="noopener nofollow ugc" target="_blank">The full text</a></li><li>Recorded 20 January 1961</li></ul><p>Line 1</p><p>Line 2</p><p>Line 3</p><p>Line 4</p><p>Line 5</p>'
          : null,
      enclosure_url: `${feed.url.replace(/\/[^/]*$/, '')}/ep${n}.mp3`,
      audio_url: `/api/episodes/${key}/audio`,
      failure: null,
      ...over,
    };
    return {
      detail,
      fails,
      transcript: { engine: 'whisper-cpp', model: 'tiny', language: 'en', status: 'valid', quality_reasons: [], speech_coverage: 0.93, segments: JFK_SEGMENTS },
      summary: { title: detail.title, bullets: ['A call to civic duty.', 'Citizens are asked what they can give, not take.'], key_quotes: ['ask not what your country can do for you'], status: 'valid', method: 'extractive', problem: null },
      insights: [
        { id: `${key}-i1`, text: 'Citizens should ask what they can do for their country.', insight_type: 'recommendation', confidence: 0.9, grounded: true, quotes: [{ id: `${key}-q1`, text: 'ask what you can do for your country', start_ms: 8000, end_ms: 11000, speaker: 'JFK' }] },
        { id: `${key}-i2`, text: 'The speech was written by a committee.', insight_type: 'claim', confidence: 0.3, grounded: false, quotes: [] },
      ],
      chapters: {
        source: 'publisher',
        items: [
          { start_ms: 0, end_ms: 3000, title: 'Opening', source: 'publisher', url: null, image: null },
          { start_ms: 3000, end_ms: 8000, title: 'The question', source: 'publisher', url: 'https://example.com/the-question', image: null },
          { start_ms: 8000, end_ms: null, title: 'The answer', source: 'publisher', url: null, image: null },
        ],
      },
      graph: {
        nodes: [
          { id: 'person:john-f-kennedy', type: 'Person', label: 'John F. Kennedy' },
          { id: 'organization:united-states', type: 'Organization', label: 'United States' },
          { id: 'topic:civic-duty', type: 'Topic', label: 'civic duty' },
        ],
        edges: [
          { source: 'person:john-f-kennedy', target: 'topic:civic-duty', type: 'MENTIONS' },
          { source: 'person:john-f-kennedy', target: 'organization:united-states', type: 'RELATED_TO' },
        ],
      },
    };
  }

  function addFeed(url: string): Feed {
    const id = `feed${feeds.length + 1}`;
    // A cover URL that never loads (nothing listens on port 9): the viewer shows its placeholder, never a broken image.
    const feed: Feed = { id, url, title: 'The Stub Show', image: 'http://127.0.0.1:9/cover.jpg', link: 'https://example.com/stub-show', description: 'Famous speeches, one at a time, with a few words on each.', last_polled_at: new Date().toISOString(), last_error: null, error_count: 0, paused: false, policy: { backfill: { newest: 3 }, include: [], exclude: [], min_duration_s: null, max_duration_s: null, audio_retention: null, audio_download: null }, audio: { retention: 'keep-all', retention_overridden: false, download: 'when-needed', download_overridden: false }, episode_count: 2, skipped_count: 0 };
    feeds.push(feed);
    for (const [n, fails] of [[1, undefined], [2, 'transcribe']] as const) {
      const ep = makeEpisode(feed, n, {}, fails);
      episodes.set(ep.detail.episode_key, ep);
      emit({ episode_key: ep.detail.episode_key, feed_id: id, state: 'pending', stage: null, reason: null, at: ep.detail.updated_at });
      walk(ep);
    }
    return feed;
  }

  function addFailedJobs(count: number, over: Partial<JobInfo> = {}): void {
    const t0 = Date.now() - count * 60_000;
    for (let i = 0; i < count; i++) {
      const reason = over.failed_reason ?? `cannot resolve the host of https://cdn.dead.example/ep${i}.mp3`;
      const job: JobInfo = { id: `ingest.dead-${i}`, queue: 'ingest', name: 'ingest', episode_key: `dead-ep${i}`, failed_reason: reason, cause: 'cannot resolve the host of https://cdn.dead.example/…', attempts: 3, timestamp: t0 + i * 60_000, processed_on: null, finished_on: null, ...over };
      failedJobs.push(job);
      queues.find((x) => x.name === job.queue)!.failed++;
    }
  }

  function addLongEpisode(segmentCount: number): string {
    const feed: Feed = { id: 'long', url: 'http://127.0.0.1/long.xml', title: 'Long Talks', image: null, link: null, description: null, last_polled_at: null, last_error: null, error_count: 0, paused: false, policy: { backfill: 'all', include: [], exclude: [], min_duration_s: null, max_duration_s: null, audio_retention: null, audio_download: null }, audio: { retention: 'keep-all', retention_overridden: false, download: 'when-needed', download_overridden: false }, episode_count: 1, skipped_count: 0 };
    feeds.push(feed);
    const words = LOREM.split(' ');
    const segments: Segment[] = Array.from({ length: segmentCount }, (_, i) => {
      const len = 8 + ((i * 7) % 30); // varied line lengths, so rows wrap differently
      const text = Array.from({ length: len }, (_, j) => words[(i + j) % words.length]).join(' ');
      return { start_ms: i * 4300, end_ms: i * 4300 + 4200, text: `${i}: ${text}`, speaker: i % 3 === 0 ? 'Host' : 'Guest' };
    });
    const ep = makeEpisode(feed, 1, { title: 'A three-hour conversation', duration_s: Math.round((segmentCount * 4300) / 1000), state: 'done' });
    ep.transcript = { ...ep.transcript!, segments };
    episodes.set(ep.detail.episode_key, ep);
    return ep.detail.episode_key;
  }

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) => json(res, status, { error: { code, message } });
  const body = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = '';
      req.on('data', (c) => (s += c));
      req.on('end', () => resolve(s));
    });

  function serveAudio(req: IncomingMessage, res: ServerResponse) {
    const size = statSync(JFK_AUDIO).size;
    const m = /bytes=(\d*)-(\d*)/.exec(req.headers.range ?? '');
    if (!m) {
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': size, 'accept-ranges': 'bytes' });
      createReadStream(JFK_AUDIO).pipe(res);
      return;
    }
    const start = m[1] ? Number(m[1]) : size - Number(m[2]);
    const end = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    res.writeHead(206, { 'content-type': 'audio/mpeg', 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
    createReadStream(JFK_AUDIO, { start, end }).pipe(res);
  }

  function search(q: string): SearchHit[] {
    const needle = q.toLowerCase();
    const hits: SearchHit[] = [];
    for (const ep of episodes.values()) {
      if (ep.detail.state !== 'done' || !ep.transcript) continue;
      ep.transcript.segments.forEach((s, i) => {
        const at = s.text.toLowerCase().indexOf(needle);
        if (at < 0) return;
        hits.push({
          chunk_id: `${ep.detail.episode_key}#${i}`,
          episode_key: ep.detail.episode_key,
          episode_title: ep.detail.title,
          feed_id: ep.detail.feed_id,
          feed_title: ep.detail.feed_title,
          start_ms: s.start_ms,
          end_ms: s.end_ms,
          snippet: s.text,
          highlights: [{ start: at, end: at + needle.length }],
          matched_terms: [needle],
          why: `matched: ${needle}`,
          relevance: 1,
        });
      });
    }
    return hits.slice(0, 20);
  }

  function corpusGraph(): GraphView {
    const nodes = new Map<string, GraphView['nodes'][number]>();
    const edges: GraphView['edges'] = [];
    for (const ep of episodes.values()) {
      if (ep.detail.state !== 'done') continue;
      for (const n of ep.graph.nodes) {
        const node = nodes.get(n.id) ?? { ...n, episodes: [] };
        node.episodes!.push({ episode_key: ep.detail.episode_key, title: ep.detail.title });
        nodes.set(n.id, node);
      }
      edges.push(...ep.graph.edges);
    }
    return { nodes: [...nodes.values()], edges };
  }

  /** Re-feeds (issue 17): the generation of each feed's URL ('all': the combined one); a rotation bumps it. */
  const refeeds = new Map<string, number>();
  const refeedUrl = (req: IncomingMessage, id: string) => `http://${req.headers.host}/api/refeed/${id}-token-${refeeds.get(id) ?? 1}/feed.xml`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stub');
    const p = url.pathname.replace(/^\/api/, '');
    const method = req.method ?? 'GET';
    requests.push(`${method} ${url.pathname}${url.search}`);
    if (api.down) return fail(res, 503, 'unavailable', 'The api is not reachable (stub switched off)');
    if (api.apiKey && (method !== 'GET' || p.startsWith('/admin/'))) {
      const auth = req.headers.authorization ?? '';
      if (!auth) return fail(res, 401, 'unauthorized', 'this route needs the API key: send "Authorization: Bearer <AUTH_API_KEY>"');
      if (auth !== `Bearer ${api.apiKey}`) return fail(res, 401, 'unauthorized', 'the API key is wrong');
    }

    if (p === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(': connected\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    if (p === '/feeds' && method === 'GET') return json(res, 200, { items: feeds });
    if (p === '/feeds' && method === 'POST') {
      let input: { url?: unknown };
      try {
        input = JSON.parse(await body(req));
      } catch {
        return fail(res, 400, 'invalid_json', 'Body must be JSON');
      }
      const u = typeof input.url === 'string' ? input.url : '';
      if (!/^https?:\/\//.test(u)) return fail(res, 400, 'invalid_url', `Not an http(s) URL: ${u}`);
      if (u.includes('broken')) return fail(res, 422, 'feed_unparseable', `The feed at ${u} is not RSS or Atom (got an HTML page)`);
      if (feeds.some((f) => f.url === u)) return fail(res, 409, 'feed_exists', `Already subscribed to ${u}`);
      return json(res, 201, addFeed(u));
    }
    if (p === '/feeds/export') {
      res.writeHead(200, { 'content-type': 'text/x-opml' });
      res.end(`<?xml version="1.0"?><opml version="2.0"><body>${feeds.map((f) => `<outline type="rss" xmlUrl="${f.url}"/>`).join('')}</body></opml>`);
      return;
    }
    if (p === '/feeds/import' && method === 'POST') {
      const urls = [...(await body(req)).matchAll(/xmlUrl="([^"]+)"/g)].map((m) => m[1]);
      let added = 0;
      for (const u of urls) {
        if (feeds.some((f) => f.url === u)) continue;
        addFeed(u);
        added++;
      }
      return json(res, 200, { added, skipped: urls.length - added, errors: [] });
    }
    // Re-feed URLs and Markdown export (issue 17).
    let m = /^\/(?:feeds\/([^/]+)\/)?refeed(\/rotate)?$/.exec(p);
    if (m) {
      const id = m[1] ? decodeURIComponent(m[1]) : 'all';
      if (id !== 'all' && !feeds.some((f) => f.id === id)) return fail(res, 404, 'not_found', 'No such feed');
      if (m[2] && method === 'POST') refeeds.set(id, (refeeds.get(id) ?? 1) + 1);
      return json(res, 200, { feed_id: id === 'all' ? null : id, url: refeedUrl(req, id), digests_url: id === 'all' ? refeedUrl(req, id).replace(/feed\.xml$/, 'digests.xml') : null });
    }
    m = /^\/export\/feeds\/([^/]+)\.zip$/.exec(p);
    if (m) {
      if (!feeds.some((f) => f.id === decodeURIComponent(m![1]))) return fail(res, 404, 'not_found', 'No such feed');
      res.writeHead(200, { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="${m[1]}.zip"` }).end('PK\u0005\u0006' + '\u0000'.repeat(18));
      return;
    }
    m = /^\/episodes\/([^/]+)\/export\.md$/.exec(p);
    if (m) {
      const ep = episodes.get(decodeURIComponent(m[1]));
      if (!ep) return fail(res, 404, 'not_found', `No episode ${m[1]}`);
      res.writeHead(200, { 'content-type': 'text/markdown; charset=utf-8', 'content-disposition': 'attachment; filename="episode.md"' }).end(`---\ntitle: ${JSON.stringify(ep.detail.title)}\n---\n\n# ${ep.detail.title}\n`);
      return;
    }
    m = /^\/feeds\/([^/]+)$/.exec(p);
    if (m && method === 'GET') {
      const feed = feeds.find((f) => f.id === decodeURIComponent(m![1]));
      return feed ? json(res, 200, { ...feed, refeed_url: refeedUrl(req, feed.id) }) : fail(res, 404, 'not_found', 'No such feed');
    }
    m = /^\/feeds\/([^/]+)(\/refresh)?$/.exec(p);
    if (m) {
      const i = feeds.findIndex((f) => f.id === decodeURIComponent(m![1]));
      if (i < 0) return fail(res, 404, 'not_found', 'No such feed');
      if (m[2] && method === 'POST') return json(res, 202, { job_id: `ingest:${feeds[i].id}` });
      if (!m[2] && method === 'PATCH') {
        // Pause/resume and the policy: only the fields sent change (as PATCH /api/feeds/:id).
        const { paused, ...policy } = JSON.parse(await body(req)) as { paused?: boolean } & Partial<Feed['policy']>;
        feeds[i] = { ...feeds[i], ...(paused === undefined ? {} : { paused }), policy: { ...feeds[i].policy, ...policy } };
        return json(res, 200, feeds[i]);
      }
      if (method === 'DELETE') {
        const [f] = feeds.splice(i, 1);
        for (const [k, e] of episodes) if (e.detail.feed_id === f.id) episodes.delete(k);
        res.writeHead(204).end();
        return;
      }
    }
    // Playback state (issue 18).
    m = /^\/episodes\/([^/]+)\/playback$/.exec(p);
    if (m) {
      const key = decodeURIComponent(m[1]);
      if (!episodes.has(key)) return fail(res, 404, 'not_found', `No episode ${key}`);
      const state = api.playback.get(key) ?? { episode_key: key, position_ms: 0, duration_ms: null, played: false, updated_at: null };
      if (method === 'GET') return json(res, 200, state);
      if (method === 'PUT') {
        const input = JSON.parse(await body(req)) as { position_ms?: unknown; duration_ms?: unknown; played?: unknown };
        if (typeof input.position_ms !== 'number' || !Number.isInteger(input.position_ms) || input.position_ms < 0) return fail(res, 400, 'invalid_request', 'invalid body: position_ms: a whole number of milliseconds');
        if (input.duration_ms !== undefined && (typeof input.duration_ms !== 'number' || !Number.isInteger(input.duration_ms) || input.duration_ms < input.position_ms)) return fail(res, 400, 'invalid_request', 'invalid body: position_ms is past duration_ms');
        api.playbackWrites.push({ key, body: input as Record<string, unknown> });
        const next: Playback = { episode_key: key, position_ms: input.position_ms, duration_ms: typeof input.duration_ms === 'number' ? input.duration_ms : state.duration_ms, played: typeof input.played === 'boolean' ? input.played : state.played, updated_at: new Date().toISOString() };
        api.playback.set(key, next);
        return json(res, 200, next);
      }
    }
    if (p === '/playback/mark' && method === 'POST') {
      const input = JSON.parse(await body(req)) as { episode_keys: string[]; played: boolean };
      api.playbackWrites.push({ key: '*mark', body: input as unknown as Record<string, unknown> });
      const found = input.episode_keys.filter((k) => episodes.has(k));
      for (const k of found) {
        const state = api.playback.get(k) ?? { episode_key: k, position_ms: 0, duration_ms: null, played: false, updated_at: null };
        api.playback.set(k, { ...state, played: input.played, position_ms: input.played ? state.position_ms : 0, updated_at: new Date().toISOString() });
      }
      if (!found.length) return fail(res, 404, 'not_found', 'none of these episodes');
      return json(res, 200, { played: input.played, updated: found.length, not_found: input.episode_keys.filter((k) => !episodes.has(k)) });
    }
    const withPlayback = <T extends { episode_key: string; position_ms: number; played: boolean }>(d: T): T => {
      const state = api.playback.get(d.episode_key);
      return state ? { ...d, position_ms: state.position_ms, played: state.played } : d;
    };
    m = /^\/episodes\/([^/]+)\/process$/.exec(p);
    if (m && method === 'POST') {
      // Process now / Retry: a failed or skipped episode walks again from the start (its failed job is retried).
      const ep = episodes.get(decodeURIComponent(m[1]));
      if (!ep) return fail(res, 404, 'not_found', `No episode ${m[1]}`);
      if (ep.detail.state === 'done') return fail(res, 409, 'conflict', 'episode is done');
      const queued = ['failed', 'skipped', 'pending'].includes(ep.detail.state);
      if (queued) {
        for (let i = failedJobs.length - 1; i >= 0; i--) {
          if (failedJobs[i].episode_key !== ep.detail.episode_key) continue;
          queues.find((x) => x.name === failedJobs[i].queue)!.failed--;
          failedJobs.splice(i, 1);
        }
        ep.fails = undefined;
        setState(ep, 'pending');
        walk(ep);
      }
      return json(res, 202, { episode_key: ep.detail.episode_key, queued, state: ep.detail.state, priority_class: 'interactive', job_id: `ingest.${ep.detail.episode_key}` });
    }
    if (p === '/episodes') {
      // The feed page's filters (feed_id, state, played), as the server applies them.
      const feedId = url.searchParams.get('feed_id');
      const state = url.searchParams.get('state');
      const played = url.searchParams.get('played');
      if (played !== null && played !== 'true' && played !== 'false') return fail(res, 400, 'invalid_request', 'invalid query: played: true or false');
      const items = [...episodes.values()]
        .map((e) => withPlayback(e.detail))
        .filter((e) => (!feedId || e.feed_id === feedId) && (!state || e.state === state) && (played === null || e.played === (played === 'true')))
        .sort((a, b) => (b.published_at ?? '').localeCompare(a.published_at ?? ''));
      return json(res, 200, { items, next_cursor: null });
    }
    if (p === '/playback' && method === 'GET') {
      // Continue listening: started, not played, most recently saved first.
      const filter = url.searchParams.get('filter') ?? 'in_progress';
      const items = [...api.playback.values()]
        .filter((s) => episodes.has(s.episode_key) && (filter === 'all' || (filter === 'played' ? s.played : !s.played && s.position_ms > 0)))
        .sort((a, b) => (b.updated_at ?? '').localeCompare(a.updated_at ?? ''))
        .map((s) => {
          const d = episodes.get(s.episode_key)!.detail;
          return { ...s, title: d.title, feed_id: d.feed_id, feed_title: d.feed_title, duration_s: d.duration_s, image: d.image };
        });
      return json(res, 200, { items });
    }
    m = /^\/episodes\/([^/]+)(?:\/(transcript|summary|insights|graph|audio|chapters))?$/.exec(p);
    if (m) {
      const ep = episodes.get(decodeURIComponent(m[1]));
      if (!ep) return fail(res, 404, 'not_found', `No episode ${m[1]}`);
      const done = ep.detail.state === 'done';
      switch (m[2]) {
        case undefined:
          return json(res, 200, withPlayback(ep.detail));
        case 'audio':
          return serveAudio(req, res);
        case 'transcript':
          return done && ep.transcript ? json(res, 200, ep.transcript) : fail(res, 404, 'not_found', 'No transcript yet');
        case 'summary':
          return done && ep.summary ? json(res, 200, ep.summary) : fail(res, 404, 'not_found', 'No summary yet');
        case 'insights':
          return json(res, 200, { insights: done ? ep.insights : [] });
        case 'graph':
          return json(res, 200, done ? ep.graph : { nodes: [], edges: [] });
        case 'chapters':
          return json(res, 200, done ? ep.chapters : { source: null, items: [] });
      }
    }
    if (p === '/graph') return json(res, 200, corpusGraph());
    if (p === '/search') {
      const q = url.searchParams.get('q') ?? '';
      if (!q.trim()) return fail(res, 400, 'invalid_query', 'q is required');
      return json(res, 200, { hits: search(q) });
    }
    if (p === '/health') {
      const role = (status: 'healthy' | 'degraded') => ({ status, checks: { redis: { status: 'ok' }, postgres: { status: 'ok' } }, uptime_seconds: 42, version: '0.1.0' });
      return json(res, 200, { status: 'degraded', roles: { api: role('healthy'), scheduler: role('healthy'), 'worker-io': role('healthy'), 'worker-gpu': { ...role('degraded'), checks: { gpu: { status: 'absent', detail: 'no NVIDIA device; CPU whisper' } } }, 'worker-ml': role('healthy') } });
    }
    if (p === '/admin/queues') return json(res, 200, { queues });
    m = /^\/admin\/queues\/([^/]+)\/(pause|resume)$/.exec(p);
    if (m && method === 'POST') {
      const q = queues.find((x) => x.name === m![1]);
      if (!q) return fail(res, 404, 'not_found', 'No such queue');
      q.paused = m[2] === 'pause';
      res.writeHead(204).end();
      return;
    }
    if (p === '/admin/jobs') return json(res, 200, { items: failedJobs });
    const retryJob = (i: number) => {
      const [job] = failedJobs.splice(i, 1);
      queues.find((x) => x.name === job.queue)!.failed--;
      const ep = job.episode_key ? episodes.get(job.episode_key) : undefined;
      if (ep) {
        ep.fails = undefined;
        setState(ep, 'transcribing');
        walk(ep, FLOW.indexOf('transcribing'));
      }
    };
    if (p === '/admin/stale' && method === 'GET') {
      const done = [...episodes.values()].filter((e) => e.detail.state === 'done').length;
      const items = (['ingest', 'transcribe', 'enrich', 'index'] as const).map((stage) => ({ stage, stale: 0, done_total: done, unknown: 0, current_recipe: [`${stage}0000000`.slice(0, 12)] }));
      return json(res, 200, { feed_id: null, items, reprocess: { auto: false, window: '01:00-06:00', batch: 50 } });
    }
    if (p === '/admin/reprocess-stale' && method === 'POST') return json(res, 202, { queued: 0, checked: 0, current: 0, unable: 0, remaining: 0 });
    if (p === '/admin/failures' && method === 'GET') {
      const groups = new Map<string, { cause: string; count: number; queues: Record<string, number>; latest: number; first: number; feeds: Record<string, number>; jobs: JobInfo[] }>();
      for (const j of failedJobs) {
        const cause = j.cause ?? j.failed_reason ?? 'unknown';
        const g = groups.get(cause) ?? { cause, count: 0, queues: {}, latest: 0, first: j.timestamp, feeds: {}, jobs: [] };
        g.count++;
        g.queues[j.queue] = (g.queues[j.queue] ?? 0) + 1;
        g.latest = Math.max(g.latest, j.timestamp);
        g.first = Math.min(g.first, j.timestamp);
        const feedId = j.episode_key ? episodes.get(j.episode_key)?.detail.feed_id : undefined;
        if (feedId) g.feeds[feedId] = (g.feeds[feedId] ?? 0) + 1;
        g.jobs.push(j);
        groups.set(cause, g);
      }
      return json(res, 200, { groups: [...groups.values()].sort((a, b) => b.count - a.count).map((g) => ({ ...g, jobs: g.jobs.slice(-20).reverse() })), total: failedJobs.length, truncated: false });
    }
    if (p === '/admin/failures/retry' && method === 'POST') {
      let cause: unknown;
      try {
        cause = (JSON.parse(await body(req)) as { cause?: unknown }).cause;
      } catch {
        return fail(res, 400, 'invalid_json', 'Body must be JSON');
      }
      const ids = failedJobs.filter((j) => (j.cause ?? j.failed_reason) === cause).map((j) => j.id);
      if (!ids.length) return fail(res, 404, 'not_found', 'No failed job has that cause');
      for (const id of ids) retryJob(failedJobs.findIndex((j) => j.id === id));
      return json(res, 202, { cause, retried: ids.length, skipped: 0, jobs: [] });
    }
    m = /^\/admin\/jobs\/([^/]+)\/([^/]+)\/retry$/.exec(p);
    if (m && method === 'POST') {
      const i = failedJobs.findIndex((j) => j.queue === decodeURIComponent(m![1]) && j.id === decodeURIComponent(m![2]));
      if (i < 0) return fail(res, 404, 'not_found', 'No such failed job');
      retryJob(i);
      res.writeHead(204).end();
      return;
    }
    if (p === '/admin/agent' && method === 'GET') return json(res, 200, api.agent);
    if (p === '/admin/agent' && method === 'PUT') {
      const change = JSON.parse(await body(req)) as Partial<AgentSettings>;
      api.agent = { ...api.agent, ...change };
      return json(res, 200, api.agent);
    }
    if (p === '/admin/incidents' && method === 'GET') {
      const status = url.searchParams.get('status');
      return json(res, 200, { items: api.incidents.filter((i) => !status || i.status === status), next_cursor: null });
    }
    m = /^\/admin\/incidents\/([^/]+)(?:\/actions\/(\d+)\/(approve|deny))?$/.exec(p);
    if (m) {
      const incident = api.incidents.find((i) => i.id === decodeURIComponent(m![1]));
      if (!incident) return fail(res, 404, 'not_found', `No incident ${decodeURIComponent(m[1])}`);
      if (!m[2] && method === 'GET') return json(res, 200, incident);
      const action = incident.actions.find((a) => a.n === Number(m![2]));
      if (!action || method !== 'POST') return fail(res, 404, 'not_found', `No action ${m[2]}`);
      if (action.status !== 'awaiting_approval') return fail(res, 409, 'conflict', `action ${action.n} is ${action.status}, not awaiting approval`);
      action.status = m[3] === 'approve' ? 'approved' : 'denied';
      action.decided_by = 'admin-key';
      incident.events.push({ at: new Date().toISOString(), kind: action.status, message: `${action.id} ${action.status} by admin-key`, data: { n: action.n } });
      if (action.status === 'approved')
        schedule(() => {
          action.status = 'executed';
          action.detail = '3 audio file(s) of 3 finished episode(s) deleted, 41 MB freed';
          incident.events.push({ at: new Date().toISOString(), kind: 'executed', message: `${action.id}: ${action.detail}`, data: { n: action.n } });
          signalIncident(incident, 'executed');
        });
      return json(res, 200, incident);
    }
    if (p === '/digests' && method === 'GET') {
      const items = api.digests.map((d) => ({ id: d.id, from: d.from, to: d.to, kind: d.kind, trigger: d.trigger, created_at: d.created_at, duration_ms: d.duration_ms, counts: { episodes: d.episodes.length, clusters: d.clusters.length, trends: d.trends.length, shows: d.shows.length } }));
      return json(res, 200, { items, next_before: null });
    }
    if (p === '/digests' && method === 'POST') {
      const d = stubDigest(String(api.digests.length + 1), { created_at: new Date().toISOString() });
      api.digests.unshift(d);
      return json(res, 201, d);
    }
    if (p === '/digests/latest' && method === 'GET') {
      return api.digests[0] ? json(res, 200, api.digests[0]) : fail(res, 404, 'not_found', 'no digest yet: generate one now');
    }
    m = /^\/digests\/(\d+)$/.exec(p);
    if (m && method === 'GET') {
      const d = api.digests.find((x) => x.id === m![1]);
      return d ? json(res, 200, d) : fail(res, 404, 'not_found', `digest ${m[1]} not found`);
    }
    if (p === '/saved-searches' && method === 'GET') return json(res, 200, { items: api.savedSearches, max: 200 });
    if (p === '/saved-searches' && method === 'POST') {
      const input = JSON.parse(await body(req)) as { query?: string; name?: string };
      const query = String(input.query ?? '').trim();
      if (!query) return fail(res, 400, 'invalid_request', 'invalid body: query: give some words to watch for');
      const now = new Date().toISOString();
      const s: SavedSearch = { id: String(api.savedSearches.length + 1), name: input.name ?? query, query, threshold: 0.5, notify: true, min_interval_s: 3600, last_notified_at: null, created_at: now, updated_at: now, hits: 0, pending: 0, last_hit: null };
      api.savedSearches.unshift(s);
      return json(res, 201, s);
    }
    m = /^\/saved-searches\/(\d+)(\/hits)?$/.exec(p);
    if (m) {
      const i = api.savedSearches.findIndex((x) => x.id === m![1]);
      if (i < 0) return fail(res, 404, 'not_found', `saved search ${m[1]} not found`);
      if (m[2] && method === 'GET') return json(res, 200, { items: api.savedSearchHits.get(m[1]) ?? [] });
      if (method === 'PATCH') {
        api.savedSearches[i] = { ...api.savedSearches[i], ...(JSON.parse(await body(req)) as Partial<SavedSearch>), updated_at: new Date().toISOString() };
        return json(res, 200, api.savedSearches[i]);
      }
      if (method === 'DELETE') {
        api.savedSearches.splice(i, 1);
        res.writeHead(204).end();
        return;
      }
      if (method === 'GET') return json(res, 200, api.savedSearches[i]);
    }
    return fail(res, 404, 'not_found', `No route ${method} ${url.pathname}`);
  }

  const api: StubApi = {
    handle,
    feeds,
    episodes,
    requests,
    down: false,
    apiKey: null,
    addFeed,
    addLongEpisode,
    addFailedJobs,
    incidents: [],
    agent: { mode: 'shadow', kill_switch: false },
    addIncident,
    digests: [],
    savedSearches: [],
    savedSearchHits: new Map(),
    playback: new Map(),
    playbackWrites: [],
    close() {
      for (const t of timers) clearTimeout(t);
      for (const c of clients) c.end();
    },
  };
  return api;
}
