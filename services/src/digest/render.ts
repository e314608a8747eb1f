import { blockQuote, clock, frontMatter, mdEscape, momentUrl } from '../export/markdown';
import type { StoredDigest } from './types';

/**
 * A digest as Markdown (Obsidian-friendly: YAML front matter, quotes as block quotes with timestamp
 * links back to the viewer), as safe HTML (the RSS item's description) and the RSS feed of digests.
 */

const day = (iso: string) => iso.slice(0, 10);
const base = (viewer: string) => viewer.replace(/\/+$/, '');
export const digestUrl = (viewer: string, id: string) => `${base(viewer)}/digests/${encodeURIComponent(id)}`;
const episodeUrl = (viewer: string, key: string) => `${base(viewer)}/episodes/${encodeURIComponent(key)}`;

export function digestTitle(d: Pick<StoredDigest, 'from' | 'to'>): string {
  return `Digest ${day(d.from)} – ${day(d.to)}`;
}

export function digestMarkdown(d: StoredDigest, viewer: string): string {
  const b = d.body;
  const out: string[] = [
    frontMatter({
      title: digestTitle(d),
      type: 'podbrain-digest',
      id: d.id,
      from: d.from,
      to: d.to,
      trigger: d.trigger,
      created: d.created_at,
      episodes: b.episodes.length,
      shows: b.shows.map((s) => s.feed_title),
      url: digestUrl(viewer, d.id),
    }),
    `# ${mdEscape(digestTitle(d))}\n`,
  ];
  if (!b.episodes.length) out.push('No new episodes in this window.\n');
  if (b.clusters.length) {
    out.push('## Stories across shows\n');
    for (const c of b.clusters) {
      out.push(`### ${mdEscape(c.title)}\n`);
      out.push(c.episodes.map((e) => `- [${mdEscape(e.title)}](${episodeUrl(viewer, e.episode_key)}) — ${mdEscape(e.feed_title)}`).join('\n') + '\n');
      if (c.entities.length) out.push(`Shared: ${c.entities.map(mdEscape).join(', ')}\n`);
      for (const q of c.quotes) out.push(blockQuote(q.text, { label: `${q.feed_title} · ${q.episode_title} · ${clock(q.start_ms)}`, url: momentUrl(viewer, q.episode_key, q.start_ms) }));
    }
  }
  if (b.trends.length) {
    out.push('## Trends\n');
    out.push(b.trends.map((t) => `- **${mdEscape(t.label)}** (${t.kind}): ${t.change}, ${t.count} episode${t.count === 1 ? '' : 's'} (before: ${t.before} a window)`).join('\n') + '\n');
  }
  if (b.shows.length) {
    out.push('## Shows\n');
    out.push(b.shows.map((s) => `- **${mdEscape(s.feed_title)}** (${s.episodes}): ${mdEscape(s.line)}`).join('\n') + '\n');
  }
  if (b.episodes.length) {
    out.push('## Episodes\n');
    out.push(
      b.episodes.map((e) => `- ${day(e.published_at)} [${mdEscape(e.title)}](${episodeUrl(viewer, e.episode_key)}) — ${mdEscape(e.feed_title)}${e.summary ? `: ${mdEscape(e.summary)}` : e.state === 'done' ? '' : ` (${e.state})`}`).join('\n') + '\n',
    );
  }
  return out.join('\n');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The digest as HTML: every text escaped, links only to the viewer. */
export function digestHtml(d: StoredDigest, viewer: string): string {
  const b = d.body;
  const h: string[] = [`<p>${b.episodes.length} new episode(s) from ${b.shows.length} show(s), ${escapeHtml(day(d.from))} – ${escapeHtml(day(d.to))}.</p>`];
  for (const c of b.clusters) {
    h.push(`<h3>${escapeHtml(c.title)}</h3><ul>`);
    for (const e of c.episodes) h.push(`<li><a href="${escapeHtml(episodeUrl(viewer, e.episode_key))}">${escapeHtml(e.title)}</a> — ${escapeHtml(e.feed_title)}</li>`);
    h.push('</ul>');
    for (const q of c.quotes) {
      h.push(`<blockquote><p>${escapeHtml(q.text)}</p><p>— <a href="${escapeHtml(momentUrl(viewer, q.episode_key, q.start_ms))}">${escapeHtml(q.feed_title)}, ${escapeHtml(clock(q.start_ms))}</a></p></blockquote>`);
    }
  }
  if (b.trends.length) h.push(`<h3>Trends</h3><ul>${b.trends.slice(0, 10).map((t) => `<li>${escapeHtml(t.label)}: ${t.change} (${t.count})</li>`).join('')}</ul>`);
  if (b.shows.length) h.push(`<h3>Shows</h3><ul>${b.shows.map((s) => `<li><strong>${escapeHtml(s.feed_title)}</strong>: ${escapeHtml(s.line)}</li>`).join('')}</ul>`);
  return h.join('\n');
}

const cdata = (s: string) => `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;

/** RSS 2.0 of the digests (newest first): each item links to its page in the viewer, its description the digest as HTML. */
export function digestsRss(digests: readonly StoredDigest[], viewer: string, selfUrl: string): string {
  const items = digests.map((d) =>
    [
      '    <item>',
      `      <title>${escapeHtml(digestTitle(d))}</title>`,
      `      <link>${escapeHtml(digestUrl(viewer, d.id))}</link>`,
      `      <guid isPermaLink="false">podbrain-digest-${escapeHtml(d.id)}</guid>`,
      `      <pubDate>${new Date(d.created_at).toUTCString()}</pubDate>`,
      `      <description>${cdata(digestHtml(d, viewer))}</description>`,
      '    </item>',
    ].join('\n'),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">',
    '  <channel>',
    '    <title>podbrain digests</title>',
    `    <link>${escapeHtml(`${base(viewer)}/digests`)}</link>`,
    `    <atom:link href="${escapeHtml(selfUrl)}" rel="self" type="application/rss+xml"/>`,
    '    <description>The digests of the shows you follow: stories across shows, trends, one line per show.</description>',
    ...items,
    '  </channel>',
    '</rss>',
    '',
  ].join('\n');
}
