import { Injectable } from '@nestjs/common';
import { blockQuote, clock, frontMatter, mdEscape, momentUrl } from '../../export/markdown';
import { SavedSearchRepository, type SavedSearchHitRow, type SavedSearchWithCounts } from '../../repositories/saved-searches.repository';
import { ApiContext } from '../context';
import type { SavedSearchHitView, SavedSearchView } from '../contract';
import { ApiError, notFound } from '../errors';

export interface SavedSearchInput {
  name?: string;
  query: string;
  threshold?: number;
  notify?: boolean;
  min_interval_s?: number;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function hitView(h: SavedSearchHitRow): SavedSearchHitView {
  return {
    id: h.id,
    episode_key: h.episode_key,
    episode_title: h.episode_title,
    feed_id: h.feed_id,
    feed_title: h.feed_title,
    text: h.text,
    start_ms: h.start_ms,
    score: Math.round(h.score * 1000) / 1000,
    found_at: new Date(h.found_at).toISOString(),
    notified_at: iso(h.notified_at),
  };
}

/** Saved searches (standing alerts) of the caller's tenant: CRUD, their hits and the hits' Markdown export. Matching runs in the workers (saved-searches/). */
@Injectable()
export class SavedSearchesService {
  constructor(
    private readonly repo: SavedSearchRepository,
    private readonly ctx: ApiContext,
  ) {}

  get max(): number {
    return this.ctx.config.savedSearches.maxPerTenant;
  }

  async list(tenant: string): Promise<SavedSearchView[]> {
    const rows = await this.repo.list(tenant);
    const last = await this.repo.lastHits(rows.filter((r) => r.hits > 0).map((r) => r.id));
    return rows.map((r) => this.view(r, last.get(r.id) ?? null));
  }

  async get(tenant: string, id: string): Promise<SavedSearchView> {
    const r = await this.row(tenant, id);
    const last = r.hits ? (await this.repo.lastHits([r.id])).get(r.id) : undefined;
    return this.view(r, last ?? null);
  }

  async create(tenant: string, input: SavedSearchInput): Promise<SavedSearchView> {
    const id = await this.repo.create(
      tenant,
      {
        name: input.name ?? input.query.slice(0, 200),
        query: input.query,
        threshold: input.threshold ?? 0.5,
        notify: input.notify ?? true,
        min_interval_s: input.min_interval_s ?? this.ctx.config.savedSearches.minIntervalS,
      },
      this.max,
    );
    if (id === null) throw new ApiError(409, 'limit_reached', `you have ${this.max} saved searches, the most one may keep (SAVED_SEARCH_MAX): delete one first`, { max: this.max });
    return this.get(tenant, id);
  }

  async update(tenant: string, id: string, change: Partial<SavedSearchInput>): Promise<SavedSearchView> {
    if (!(await this.repo.update(tenant, id, change))) throw notFound(`saved search ${id}`);
    return this.get(tenant, id);
  }

  async remove(tenant: string, id: string): Promise<void> {
    if (!(await this.repo.remove(tenant, id))) throw notFound(`saved search ${id}`);
  }

  async hits(tenant: string, id: string, limit: number): Promise<SavedSearchHitView[]> {
    await this.row(tenant, id);
    return (await this.repo.hits(id, limit)).map(hitView);
  }

  /** The hits as one Markdown note: YAML front matter, then each hit's quote as a block quote with its timestamp link (newest first). */
  async markdown(tenant: string, id: string, viewerBase: string): Promise<{ name: string; body: string }> {
    const s = await this.row(tenant, id);
    const hits = await this.repo.hits(id, 1000);
    const parts = [
      frontMatter({
        title: `Saved search: ${s.name}`,
        query: s.query,
        threshold: s.threshold,
        hits: hits.length,
        exported_at: new Date().toISOString(),
        source: 'podbrain',
        tags: ['podbrain', 'saved-search'],
      }),
      `\n# ${mdEscape(s.name)}\n`,
      `\nEpisodes that matched *${mdEscape(s.query)}*${hits.length ? ', newest first.' : ': none yet.'}\n`,
    ];
    for (const h of hits) {
      const show = h.feed_title ? ` — ${mdEscape(h.feed_title)}` : '';
      parts.push(`\n## [${mdEscape(h.episode_title ?? h.episode_key)}](${momentUrl(viewerBase, h.episode_key)})${show}\n\n`);
      parts.push(blockQuote(h.text, { label: clock(h.start_ms), url: momentUrl(viewerBase, h.episode_key, h.start_ms) }));
      parts.push(`\nFound ${new Date(h.found_at).toISOString().slice(0, 10)} · relevance ${h.score.toFixed(2)}\n`);
    }
    return { name: s.name, body: parts.join('') };
  }

  private async row(tenant: string, id: string): Promise<SavedSearchWithCounts> {
    const r = await this.repo.get(tenant, id);
    if (!r) throw notFound(`saved search ${id}`);
    return r;
  }

  private view(r: SavedSearchWithCounts, last: SavedSearchHitRow | null): SavedSearchView {
    return {
      id: r.id,
      name: r.name,
      query: r.query,
      threshold: Math.round(r.threshold * 1000) / 1000,
      notify: r.notify,
      min_interval_s: r.min_interval_s,
      last_notified_at: iso(r.last_notified_at),
      created_at: new Date(r.created_at).toISOString(),
      updated_at: new Date(r.updated_at).toISOString(),
      hits: r.hits,
      pending: r.notify ? r.pending : 0,
      last_hit: last ? hitView(last) : null,
    };
  }
}
