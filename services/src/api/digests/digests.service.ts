import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { digestDeps } from '../../digest/deps';
import { generateDigest } from '../../digest/generate';
import { digestMarkdown, digestsRss } from '../../digest/render';
import type { StoredDigest } from '../../digest/types';
import { DigestRepository } from '../../repositories/digests.repository';
import { ApiContext } from '../context';
import type { DigestListView, DigestView } from '../contract';
import { ApiError } from '../errors';

/** Items in the RSS feed of digests. */
const FEED_ITEMS = 20;

export function digestView(d: StoredDigest): DigestView {
  const b = d.body;
  return {
    id: d.id,
    from: d.from,
    to: d.to,
    kind: d.kind,
    trigger: d.trigger === 'scheduled' ? 'scheduled' : 'manual',
    created_at: d.created_at,
    duration_ms: d.duration_ms,
    episodes: b.episodes ?? [],
    clusters: b.clusters ?? [],
    trends: b.trends ?? [],
    shows: b.shows ?? [],
    // A body stored by an older version may lack some of it.
    stats: (b.stats as DigestView['stats'] | undefined) ?? { episodes: b.episodes?.length ?? 0, processed: 0, passages: 0, trend_windows: 0, llm_problem: null, embeddings: '' },
  };
}

/** The caller's digests: generate one now, list, read, Markdown, the RSS feed. Generation itself is digest/generate.ts. */
@Injectable()
export class DigestsService {
  /** Tenants with a generation running in this api: one at a time each. */
  private readonly running = new Set<string>();

  constructor(
    private readonly repo: DigestRepository,
    private readonly database: Database,
    private readonly ctx: ApiContext,
  ) {}

  async generate(tenant: string, from?: Date, to?: Date): Promise<DigestView> {
    if (this.running.has(tenant)) throw new ApiError(409, 'digest_in_progress', 'a digest is being generated for you already; wait for it and try again');
    this.running.add(tenant);
    try {
      const log = this.ctx.log.child({ component: 'digest' });
      const { digest } = await generateDigest(digestDeps(this.ctx.config, this.database, log), { tenantId: tenant, from, to, trigger: 'manual' });
      return digestView(digest);
    } finally {
      this.running.delete(tenant);
    }
  }

  async list(tenant: string, limit: number, before?: string): Promise<DigestListView> {
    const items = await this.repo.list(tenant, limit + 1, before);
    return { items: items.slice(0, limit), next_before: items.length > limit ? items[limit - 1].id : null };
  }

  async latest(tenant: string): Promise<StoredDigest> {
    const d = await this.repo.latest(tenant);
    if (!d) throw new ApiError(404, 'not_found', 'no digest yet: generate one now (POST /api/digests, or "Generate now" on the Digest page) or wait for the scheduled one (DIGEST_SCHEDULE)');
    return d;
  }

  async get(tenant: string, id: string): Promise<StoredDigest> {
    const d = await this.repo.get(tenant, id);
    if (!d) throw new ApiError(404, 'not_found', `digest ${id} not found`);
    return d;
  }

  markdown(d: StoredDigest, viewer: string): string {
    return digestMarkdown(d, viewer);
  }

  async feed(tenant: string, viewer: string, selfUrl: string): Promise<string> {
    const items = await this.repo.list(tenant, FEED_ITEMS);
    const full = (await Promise.all(items.map((i) => this.repo.get(tenant, i.id)))).filter((d): d is StoredDigest => d !== null);
    return digestsRss(full, viewer, selfUrl);
  }
}
